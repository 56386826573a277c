#!/usr/bin/env bash
# Rebuilds the committed attack samples (7zz, zstd, brotli, xz: scripts/dev's APT_PACKAGES install them).
# Each holds the EICAR test string inside a payload that compresses it (no sample contains EICAR as raw bytes:
# clamd finding one proves it looked inside). payload.txt is made by `python3 make_payload.py`.
set -euo pipefail
for tool in 7zz zstd xz brotli; do
  command -v "$tool" >/dev/null || { echo "make.sh: $tool is missing: run scripts/dev setup" >&2; exit 1; }
done
cd "$(dirname "$0")"
python3 make_payload.py > /tmp/payload.txt
cd /tmp
rm -f eicar-*.7z eicar-*.zip
for coder in BZip2 Deflate Deflate64; do
  7zz a -bd -t7z -m0="$coder" "eicar-$(echo "$coder" | tr A-Z a-z).7z" payload.txt >/dev/null
done
for method in PPMd XZ; do
  7zz a -bd -tzip -mm="$method" "eicar-$(echo "$method" | tr A-Z a-z).zip" payload.txt >/dev/null
done
zstd -q -19 -f payload.txt -o eicar.txt.zst
xz -kf --format=lzma -S .lzma payload.txt && mv payload.txt.lzma eicar.txt.lzma
brotli -f payload.txt -o eicar.txt.br
printf 'meeting notes, nothing to see\n' | zstd -q -19 > clean.zst
# A zstd skippable frame (magic 0x184D2A50, little-endian length) holding EICAR raw, then a clean frame: decoders
# skip the first frame; anything downloading the stored bytes gets EICAR.
python3 "$OLDPWD/make_payload.py" --eicar > eicar.com
python3 -c 'import struct,sys; e=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(struct.pack("<II",0x184D2A50,len(e))+e)' \
  eicar.com > skippable.zst && cat clean.zst >> skippable.zst
cd "$OLDPWD"
mv /tmp/eicar-*.7z /tmp/eicar-*.zip /tmp/eicar.txt.zst /tmp/eicar.txt.lzma /tmp/eicar.txt.br .
mv /tmp/skippable.zst eicar-in-skippable-frame.zst
rm -f /tmp/clean.zst /tmp/payload.txt /tmp/eicar.com
