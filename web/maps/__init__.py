"""District and town maps (Folium, offline assets) and the lazily loaded project layer."""
