#!/usr/bin/env bash
# The script an office admin would write instead of dropcast (issue 6's baseline): post every PDF
# in the inbox to the channel with the caption from its sidecar, one `curl -F` per file, then
# `mv` both files to the archive. No settle check, no journal, no retries, no receipts.
#
# Usage: TELEGRAM_TOKEN=123:abc TELEGRAM_CHAT=@town_news [TELEGRAM_API=http://127.0.0.1:8081] \
#          bench/baseline.sh INBOX ARCHIVE
# The benchmark (benches/pipeline.rs) runs it against the same fake Bot API as dropcast.
set -u

inbox=${1:?usage: baseline.sh INBOX ARCHIVE}
archive=${2:?usage: baseline.sh INBOX ARCHIVE}
api="${TELEGRAM_API:-https://api.telegram.org}/bot${TELEGRAM_TOKEN:?set TELEGRAM_TOKEN}"
chat=${TELEGRAM_CHAT:?set TELEGRAM_CHAT}
mkdir -p "$archive"

posted=0
failed=0
for pdf in "$inbox"/*.pdf; do
  [ -f "$pdf" ] || continue
  sidecar="${pdf%.pdf}.yaml"
  [ -f "$sidecar" ] || { echo "no sidecar for $pdf, skipped" >&2; continue; }
  caption=$(sed -n 's/^caption: *//p' "$sidecar")
  response=$(curl -sS --max-time 60 \
    --form-string "chat_id=$chat" \
    -F "document=@$pdf;type=application/pdf" \
    --form-string "caption=$caption" \
    "$api/sendDocument")
  case $response in
    *'"ok":true'*)
      mv -n -- "$pdf" "$sidecar" "$archive/"
      posted=$((posted + 1))
      ;;
    *)
      echo "failed to post $pdf: $response" >&2
      failed=$((failed + 1))
      ;;
  esac
done
echo "posted $posted, failed $failed"
[ "$failed" -eq 0 ]
