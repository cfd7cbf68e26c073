# syntax=docker/dockerfile:1

# hls.js for the player page, exactly as web/package-lock.json pins it.
FROM node:20-slim AS web
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 vodstack

# ffmpeg comes with the pinned imageio-ffmpeg wheel: no system packages needed. setup.py
# puts hls.js into the package: npm's copy, which is the lockfile's version, so the build
# need not fetch it.
WORKDIR /build
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY web/package.json web/package-lock.json ./web/
COPY --from=web /build/web/node_modules/hls.js ./web/node_modules/hls.js
COPY src ./src
RUN pip install --no-cache-dir . && cd / && rm -rf /build

WORKDIR /app
RUN mkdir data && chown vodstack:vodstack data

USER vodstack
ENV VODSTACK_DATA_DIR=/app/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["vodstack"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
