# The scanner's Lambda container image: Debian's ClamAV 1.4 and Python 3.11, the scanner package in
# /var/task, awslambdaric as the entrypoint. Runs as any uid on a read-only filesystem; only /tmp is
# written at run time. How to build, test and measure it: docs/IMAGE.md.
#
#   podman build -t s3-clamav-scanner .                                           # freshclam bakes the database
#   podman build --build-arg SIGNATURES_DIR=tests/signatures -t scanner-test .   # the project's test signatures

ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------------
# base: what the final image runs on. The minimal Debian rootfs lists only "<codename> main"; ClamAV's
# current 1.4 release and other fixes come from the -updates and -security suites, so the sources are
# replaced by one deb822 file with all three (this also fits the official image, which ships the same file).
# non-free holds libclamunrar12, the module libclamav loads to unpack RAR (without it RAR is never unpacked).
# Bookworm's is 1.3.1; its libclamunrar_iface sources are those of ClamAV 1.4.5 (no change in between), and
# tests/scanner/test_archives.py proves clamd 1.4 unpacks RAR4 and RAR5 with it.
FROM ${BASE_IMAGE} AS base
ARG DEBIAN_MIRROR=http://deb.debian.org
ARG DEBIAN_FRONTEND=noninteractive
# ca-certificates is left unpinned on purpose: a trust store is only useful when current.
# hadolint ignore=DL3008
RUN . /etc/os-release \
 && rm -f /etc/apt/sources.list \
 && printf '%s\n' \
        'Types: deb' \
        "URIs: ${DEBIAN_MIRROR}/debian" \
        "Suites: ${VERSION_CODENAME} ${VERSION_CODENAME}-updates" \
        'Components: main non-free' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        '' \
        'Types: deb' \
        "URIs: ${DEBIAN_MIRROR}/debian-security" \
        "Suites: ${VERSION_CODENAME}-security" \
        'Components: main non-free' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        >/etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
        'clamav=1.4.*' 'clamav-daemon=1.4.*' 'clamav-freshclam=1.4.*' 'libclamunrar12=1.3.*' \
        'python3=3.11.*' \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log /var/log/alternatives.log

# ---------------------------------------------------------------------------------------------------
# venv: the Python runtime dependencies (pinned) in /opt/venv, built with the same Debian python3 the
# final stage runs; the scanner package in /var/task. Wheels only: nothing is compiled, and the final
# stage gets neither compilers nor pip.
FROM base AS venv
ARG DEBIAN_FRONTEND=noninteractive
ARG AWSLAMBDARIC_VERSION=4.2.2
RUN apt-get update \
 && apt-get install -y --no-install-recommends 'python3-venv=3.11.*' \
 && rm -rf /var/lib/apt/lists/*
COPY scanner/requirements.txt /tmp/requirements.txt
# The CA bundle arrives as a build secret for TLS through a proxy (podman build --secret id=ca,src=...; the
# Pulumi program passes the stack's imageBuildCaFile):
# it is visible to this RUN only and never lands in a layer. Without it pip uses its own CA store.
# Byte-code is compiled as unchecked hash-based .pyc files: valid whatever the files' mtimes after COPY,
# and never rewritten, since the filesystem is read-only at run time.
RUN --mount=type=secret,id=ca,target=/run/secrets/ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile --only-binary=:all: \
        -r /tmp/requirements.txt "awslambdaric==${AWSLAMBDARIC_VERSION}" \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall -y --disable-pip-version-check pip setuptools \
 && /opt/venv/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/venv/lib
COPY scanner/ /var/task/scanner/
# The scanner's own code gets checked hash-based .pyc files: a source mounted over /var/task still wins.
RUN rm -f /var/task/scanner/requirements.txt \
 && /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash /var/task

# ---------------------------------------------------------------------------------------------------
# signatures: the ClamAV database for /var/lib/clamav. With SIGNATURES_DIR empty, freshclam downloads the
# current database (change DEFINITIONS_STAMP, e.g. to the date, to refresh a cached layer; the Pulumi program
# passes the stack's definitionsStamp, by default the date when the baked database is the only one); otherwise the
# signature files in that directory of the build context are copied (.dockerignore lets tests/signatures in).
FROM base AS signatures
ARG SIGNATURES_DIR=
ARG DEFINITIONS_STAMP=
# COPY rather than a bind mount: podman keys its layer cache on copied content, not on mounted content.
# COPY needs a source even when no directory is given: the empty scanner/__init__.py stands in, unused.
COPY ${SIGNATURES_DIR:-scanner/__init__.py} /tmp/given/
RUN if [ -n "${SIGNATURES_DIR}" ]; then \
        if [ -z "$(find /tmp/given -type f -size +0)" ]; then \
            echo "SIGNATURES_DIR=${SIGNATURES_DIR}: no signature files" >&2; exit 1; \
        fi \
     && cp -R /tmp/given/. /var/lib/clamav/; \
    else \
        echo "freshclam: definitions stamp '${DEFINITIONS_STAMP}'" \
     && freshclam --stdout \
     && rm -f /var/lib/clamav/freshclam.dat; \
    fi \
 && rm -rf /tmp/given \
 && chown -R root:root /var/lib/clamav \
 && chmod -R u=rwX,go=rX /var/lib/clamav \
 && ls -l /var/lib/clamav

# ---------------------------------------------------------------------------------------------------
# The image. Nothing here is writable by the run-time user: clamd's rendered config, socket and scratch
# files live under /tmp (the scanner's CLAMD_WORK_DIR), and so does HOME.
FROM base
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    LAMBDA_TASK_ROOT=/var/task \
    CLAMD_DATABASE_DIR=/var/lib/clamav \
    CLAMD_WORK_DIR=/tmp/clamd
COPY --from=venv /opt/venv /opt/venv
COPY --from=signatures /var/lib/clamav /var/lib/clamav
COPY --from=venv /var/task /var/task
WORKDIR /var/task
# Lambda picks its own uid; this one only makes a plain `podman run` non-root too.
USER 65534:65534
ENTRYPOINT ["/opt/venv/bin/python", "-m", "awslambdaric"]
CMD ["scanner.handler.lambda_handler"]
