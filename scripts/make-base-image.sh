#!/usr/bin/env bash
# Make the Dockerfile's base image locally when it is missing: base images cannot be pulled on these
# machines, but Debian's apt mirror is reachable, so debootstrap builds an equivalent of
# debian:bookworm-slim and podman imports it under the name the Dockerfile's BASE_IMAGE resolves to.
#
#   scripts/make-base-image.sh            # reuse the image when present, else build it (~1-3 min)
#   FORCE=1 scripts/make-base-image.sh    # rebuild it
#
# Needs root, debootstrap and podman. Honours CONTAINERS_CONF like any podman command.
set -euo pipefail

IMAGE="${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}"
# Bumped whenever the recipe below changes, so that an image made by an older recipe is made again.
RECIPE=2
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [[ "${FORCE:-0}" != 1 ]] && podman image exists "$IMAGE"; then
    made_by="$(podman image inspect --format '{{index .Labels "s3-clamav-scanner.base-recipe"}}' "$IMAGE")"
    if [[ "$made_by" == "$RECIPE" ]]; then
        echo "base image $IMAGE: present, reused"
        exit 0
    fi
    echo "base image $IMAGE: made by recipe '${made_by:-none}', not $RECIPE: making it again"
    replaced="$(podman image inspect --format '{{.Id}}' "$IMAGE")"
fi

for tool in debootstrap podman tar; do
    command -v "$tool" >/dev/null || { echo "make-base-image: $tool is required" >&2; exit 1; }
done
if [[ "$(id -u)" != 0 ]]; then
    echo "make-base-image: debootstrap needs root" >&2
    exit 1
fi

root="$(mktemp -d "${TMPDIR:-/var/tmp}/debian-rootfs.XXXXXX")"
trap 'rm -rf "$root"' EXIT

echo "base image $IMAGE: debootstrap --variant=minbase $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || {
    tail -n 40 "$root.log" >&2
    rm -f "$root.log"
    exit 1
}
rm -f "$root.log"

# What makes the official image "slim": dpkg leaves documentation, manuals and translations out of
# every package installed later, and apt keeps neither downloaded .debs nor translated indexes.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"

# The same exclusions for what debootstrap already installed.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/groff" "$root/usr/share/info" "$root/usr/share/linda" "$root/usr/share/lintian/overrides" \
    "$root/usr/share/man"
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
rm -f "$root/var/log/bootstrap.log"
: >"$root/etc/machine-id"

# debootstrap copies the host's name and resolver; the container runtime mounts its own over them. It
# creates /etc/hosts and /etc/mtab when they are missing, which would show as a change to a container
# that must write nothing, so the image carries them like any installed system does.
echo localhost >"$root/etc/hostname"
: >"$root/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
ln -sfn /proc/mounts "$root/etc/mtab"

# /dev, /proc and /sys are mounted by the container runtime.
tar --numeric-owner -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --change "LABEL s3-clamav-scanner.base-recipe=$RECIPE" \
        --message "debootstrap --variant=minbase $SUITE $MIRROR" \
        - "$IMAGE" >/dev/null
if [[ -n "${replaced:-}" ]]; then
    podman rmi "$replaced" >/dev/null 2>&1 || true  # still used by cached build layers: kept until pruned
fi
echo "base image $IMAGE: imported ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
