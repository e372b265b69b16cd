"""town parts: current town boundaries cut into small pieces for fast, indexed matching

Point-in-polygon and line/area intersection against a whole town (hundreds to thousands of
vertices) is the cost of matching; against ST_Subdivide pieces of at most 64 vertices behind a
GiST index it is a handful of cheap tests. Pieces partition their town exactly, so lengths and
areas summed over pieces equal those over the town. A trigger on towns keeps them current.

Revision ID: 0004_town_parts
Revises: 0003_progress_reports
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2

revision = '0004_town_parts'
down_revision = '0003_progress_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'town_parts',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('town_id', sa.Integer(), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('code', sa.String(length=9), nullable=False),
        sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POLYGON', srid=4326, spatial_index=False),
                  nullable=False),
        sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_town_parts_town_id_towns'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_town_parts')),
    )
    op.create_index('ix_town_parts_geom', 'town_parts', ['geom'], postgresql_using='gist')
    op.create_index(op.f('ix_town_parts_town_id'), 'town_parts', ['town_id'])
    op.execute("""
        CREATE FUNCTION eqreg_refresh_town_parts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM town_parts WHERE town_id = NEW.id;
            IF NEW.valid_to IS NULL THEN
                INSERT INTO town_parts (town_id, district_code, code, geom)
                SELECT NEW.id, NEW.district_code, NEW.code, (ST_Dump(ST_Subdivide(NEW.geom, 64))).geom;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("""CREATE TRIGGER towns_refresh_parts AFTER INSERT OR UPDATE OF geom, valid_to, code
                  ON towns FOR EACH ROW EXECUTE FUNCTION eqreg_refresh_town_parts()""")
    op.execute("""INSERT INTO town_parts (town_id, district_code, code, geom)
                  SELECT id, district_code, code, (ST_Dump(ST_Subdivide(geom, 64))).geom
                  FROM towns WHERE valid_to IS NULL""")
    op.execute("GRANT SELECT, INSERT, DELETE ON town_parts TO eqreg_app")
    # How much of geometry g lies in one town piece: 1 for a point, the number of points for a
    # multipoint, geodesic metres along a line, geodesic m² of a polygon. A simple SQL function,
    # so PostgreSQL inlines it; match_towns.sql and preview_shares.sql both sum it per town.
    op.execute("""
        CREATE FUNCTION eqreg_part_measure(part geometry, g geometry) RETURNS float8
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE
                WHEN GeometryType(g) = 'POINT' THEN 1.0
                WHEN ST_Dimension(g) = 0 THEN ST_NumGeometries(ST_Intersection(part, g))::float8
                WHEN ST_CoveredBy(g, part) THEN
                    CASE WHEN ST_Dimension(g) = 1 THEN ST_Length(g::geography) ELSE ST_Area(g::geography) END
                WHEN ST_Dimension(g) = 1 THEN ST_Length(ST_CollectionExtract(ST_Intersection(part, g), 2)::geography)
                ELSE ST_Area(ST_CollectionExtract(ST_Intersection(part, g), 3)::geography)
            END
        $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION eqreg_part_measure(geometry, geometry)")
    op.execute("DROP TRIGGER towns_refresh_parts ON towns")
    op.execute("DROP FUNCTION eqreg_refresh_town_parts()")
    op.drop_table('town_parts')
