#!/usr/bin/env bash
# Fetch the official Minecraft-side files into downloads/ (the Crafter main job needs none of them).
#
#   bash downloads.sh            # VPT-2x model + weights, MineCLIP attn checkpoint, CLIP BPE vocabulary
#   bash downloads.sh --steve1   # also the official STEVE-1 weights
#   bash downloads.sh --all-vpt  # also the 1x and 3x foundation models
#
# Files that already exist are kept. Google Drive files need `gdown` (pip install gdown).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p downloads downloads/steve1

VPT_URL=https://openaipublic.blob.core.windows.net/minecraft-rl/models
BPE_URL=https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz
MINECLIP_GDRIVE_ID=1uaZM1ZLBz2dZWcn85rZmjP7LV6Sg5PZW   # mineclip_attn.pth (md5 b5ece9198337cfd117a3bfbd921e56da)
STEVE1_GDRIVE_ID=1E3fd_-H1rRZqMkUKHfiMhx-ppLLehQPI      # steve1.weights (STEVE-1 download_weights.sh)

fetch() {  # fetch URL DEST: download to a temp file, then move, so an interrupted download leaves nothing behind
  local url=$1 dest=$2
  if [ -s "$dest" ]; then echo "have $dest"; return; fi
  echo "fetch $url -> $dest"
  curl -fL --retry 3 -o "$dest.part" "$url" && mv "$dest.part" "$dest"
}
gdrive() {  # gdrive ID DEST
  local id=$1 dest=$2
  if [ -s "$dest" ]; then echo "have $dest"; return; fi
  if ! python3 -c "import gdown" 2>/dev/null; then
    echo "error: $dest comes from Google Drive (id $id); install gdown first: pip install gdown" >&2; exit 1
  fi
  python3 -m gdown "$id" -O "$dest.part" && mv "$dest.part" "$dest"
}

fetch "$VPT_URL/2x.model" downloads/2x.model
fetch "$VPT_URL/rl-from-foundation-2x.weights" downloads/rl-from-foundation-2x.weights
fetch "$BPE_URL" downloads/bpe_simple_vocab_16e6.txt.gz
gdrive "$MINECLIP_GDRIVE_ID" downloads/mineclip_attn.pth

for arg in "$@"; do
  case "$arg" in
    --steve1) gdrive "$STEVE1_GDRIVE_ID" downloads/steve1/steve1.weights ;;
    --all-vpt)
      for size in 1x 3x; do
        fetch "$VPT_URL/foundation-model-$size.model" "downloads/foundation-model-$size.model"
        fetch "$VPT_URL/foundation-model-$size.weights" "downloads/foundation-model-$size.weights"
      done ;;
    *) echo "unknown option $arg (see the header of downloads.sh)" >&2; exit 2 ;;
  esac
done
echo "done: downloads/"
