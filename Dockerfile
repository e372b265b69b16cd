# Production image: the registry under gunicorn. See docker-compose.yml and docs/deploy.md.
FROM python:3.11-slim-bookworm
# postgresql-client: pg_dump/pg_restore/psql for eqreg db backup and restore (same major version as the db image)
RUN apt-get update && apt-get install -y --no-install-recommends libexpat1 postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY registry ./registry
COPY geo ./geo
COPY web ./web
COPY migrations ./migrations
COPY data ./data
RUN pip install --no-cache-dir .
ENV EQREG_ENV=production
EXPOSE 8000
CMD ["eqreg", "serve", "--host", "0.0.0.0", "--port", "8000"]
