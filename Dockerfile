# Airflow with the bias-audit project: local Spark (Java), the local model (llama-cpp-python),
# installed from the same pins as every other install of the project (constraints.txt).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

USER root
# Java for PySpark (Debian's default JRE is 17); a compiler and cmake to build llama-cpp-python.
RUN apt-get update \
    && apt-get install -y --no-install-recommends default-jre-headless build-essential cmake \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/default-java

USER airflow
WORKDIR /opt/bias-audit
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root scripts/llama-cmake-args scripts/
COPY --chown=airflow:root include include/
# The same llama.cpp build flags as scripts/setup.sh (AVX2; the native build's AMX kernels crash
# where the kernel grants no AMX). apache-airflow stays at the image's version.
RUN CMAKE_ARGS="$(cat scripts/llama-cmake-args)" pip install --no-cache-dir \
        -c constraints.txt "apache-airflow==${AIRFLOW_VERSION}" -e ".[local,airflow,postgres,llm-server]"

ENV BIAS_AUDIT_HOME=/opt/bias-audit-data \
    BIAS_AUDIT_MODEL_CACHE=/opt/bias-audit-data/models
WORKDIR /opt/airflow
