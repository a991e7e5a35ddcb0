#!/usr/bin/env bash
# Makes the corpus for `trove bench ingest` from what a Debian machine already has: the text in
# /usr/share/doc (READMEs, changelogs, NEWS, copyright files; .gz ones decompressed) and the
# manual pages in /usr/share/man rendered to plain text by man-db.
#
#   Benchmarks/make-corpus.sh OUTPUT_DIR [COUNT]      COUNT defaults to 5000
#
# Writes COUNT UTF-8 files OUTPUT_DIR/doc-NNNNN-<source>.txt, each 300 bytes to ~200 KB (or to
# CORPUS_MAX_BYTES)
# (longer ones are cut at a line boundary), no two with the same content. The result is
# deterministic for a given machine: the candidates are taken in a fixed order (LC_ALL=C sort),
# one file from each package or command family in turn, so that no single package (say, a
# program with thousands of near-identical pages) dominates; English pages come before
# translations. Fails, saying how many it could make, when the machine has too few. Installs
# man-db (for `man -l`) with apt-get when it is missing and this runs as root.
set -euo pipefail
export LC_ALL=C

usage() { echo "usage: $0 OUTPUT_DIR [COUNT]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
output="$1"
count="${2:-5000}"
[[ "$count" =~ ^[1-9][0-9]*$ ]] || usage

min_bytes=300
max_bytes="${CORPUS_MAX_BYTES:-204800}"  # ~200 KB

# man-db renders the pages (it also runs tbl/eqn and converts legacy encodings to UTF-8).
if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing man-db and groff-base" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends man-db groff-base >/dev/null
  else
    echo "warning: man-db is not installed; manual pages are skipped" >&2
  fi
fi
have_man=0
command -v man >/dev/null && command -v groff >/dev/null && have_man=1

# The candidate list: "tier<TAB>family<TAB>path", in path order.
#  tier 0: /usr/share/doc files and English manual pages; tier 1: translated manual pages.
#  family: the package (docs) or the command's first word (pages), for round-robin below.
# Documentation files with a known binary, markup or source-code suffix are left out; the
# rest are checked for NUL bytes when read.
candidates="$(mktemp)"
trap 'rm -f "$candidates" "$candidates.ordered"' EXIT
{
  if [ -d /usr/share/doc ]; then
    find /usr/share/doc -type f -print | sort | awk -F/ '
      {
        name = $NF; sub(/\.gz$/, "", name)
        if (name ~ /\.(png|gif|jpe?g|ico|svg|pdf|ps|eps|dvi|html?|xhtml|xml|css|js|json|woff2?|ttf|otf|bz2|xz|zst|zip|tar|tgz|deb|so|a|o|pyc|mo|gmo|db|c|h|cc|cpp|hpp|py|pl|pm|sh|awk|go|rs|rb|java|el|vim|cocci|patch|diff|conf|cfg|ini|ya?ml|Makefile|in|am|m4)$/) next
        if (name == "Makefile" || name == "index.rst" || name == "index.md") next
        print 0 "\t" $5 "\t" $0
      }'
  fi
  if [ "$have_man" = 1 ] && [ -d /usr/share/man ]; then
    find /usr/share/man -type f -path '*/man[1-9]*/*' -print | sort | awk -F/ '
      {
        tier = ($5 ~ /^man[1-9]/) ? 0 : 1
        family = $NF; sub(/[-_.:].*/, "", family)
        print tier "\t" (tier ? $5 "/" : "") family "\t" $0
      }'
  fi
} > "$candidates"

available="$(wc -l < "$candidates")"
echo "candidates: $available (docs: $(grep -c '/usr/share/doc/' "$candidates" || true), manual pages: $(grep -c '/usr/share/man/' "$candidates" || true))"
if [ "$available" -lt "$count" ]; then
  echo "error: this machine has only $available candidate files for $count documents" >&2
  exit 1
fi

# Round-robin: the k-th file of every family comes before the (k+1)-th file of any family.
awk -F'\t' '{ rank = seen[$1 "\t" $2]++; print $1 "\t" rank "\t" $3 }' "$candidates" \
  | sort -t$'\t' -k1,1n -k2,2n -k3,3 | cut -f3 > "$candidates.ordered"

# Prints a candidate's text as UTF-8 on stdout; returns non-zero for binary content.
extract() {
  local path="$1"
  case "$path" in
    /usr/share/man/*)
      # .so stubs are aliases of another page: that page comes on its own.
      local head
      head="$( (zcat -f -- "$path" 2>/dev/null || true) | head -c 512 | tr -d '\000')"
      if grep -q '^\.so ' <<< "$head"; then return 1; fi
      MANWIDTH=80 man -l -E UTF-8 --no-hyphenation --no-justification -- "$path" 2>/dev/null
      ;;
    *)
      zcat -f -- "$path" 2>/dev/null
      ;;
  esac
}

mkdir -p "$output"
if [ -n "$(find "$output" -maxdepth 1 -name 'doc-*.txt' -print -quit)" ]; then
  echo "error: $output already holds doc-*.txt files; give an empty or new directory" >&2
  exit 1
fi

started=$(date +%s)
work="$(mktemp)"
trap 'rm -f "$candidates" "$candidates.ordered" "$work"' EXIT
declare -A seen_hashes=()
made=0
total_bytes=0
skipped_small=0
skipped_binary=0
skipped_duplicate=0
cut_large=0
while IFS= read -r path; do
  if ! extract "$path" > "$work"; then
    skipped_binary=$((skipped_binary + 1)); continue
  fi
  # Binary content (NUL bytes) is skipped; invalid UTF-8 sequences are dropped.
  if [ "$(tr -d '\000' < "$work" | wc -c)" != "$(wc -c < "$work")" ]; then
    skipped_binary=$((skipped_binary + 1)); continue
  fi
  # Also drop carriage returns, overstrike (x BACKSPACE x) and colour escapes.
  iconv -f UTF-8 -t UTF-8 -c < "$work" | tr -d '\r' | sed -e 's/.\x08//g' -e 's/\x1b\[[0-9;]*m//g' > "$work.utf8" || true
  mv "$work.utf8" "$work"
  size=$(wc -c < "$work")
  if [ "$size" -lt "$min_bytes" ]; then
    skipped_small=$((skipped_small + 1)); continue
  fi
  if [ "$size" -gt "$max_bytes" ]; then
    # Keep whole lines only: drop whatever follows the last newline within the limit.
    head -c "$max_bytes" "$work" | sed '$d' > "$work.cut"
    mv "$work.cut" "$work"
    size=$(wc -c < "$work")
    cut_large=$((cut_large + 1))
  fi
  # Debian's trimmed changelogs differ only in a closing line naming the binary package
  # ("use `apt changelog NAME`"): leave it out of the hash so they count as duplicates.
  hash=$( (grep -v '^# To read the complete changelog use' "$work" || true) | md5sum | cut -c1-32)
  if [ -n "${seen_hashes[$hash]:-}" ]; then
    skipped_duplicate=$((skipped_duplicate + 1)); continue
  fi
  seen_hashes[$hash]=1

  # A readable, unique name: the package and file (docs) or the page and section (man).
  case "$path" in
    /usr/share/man/*)
      rest="${path#/usr/share/man/}"; lang="${rest%%/*}"; page="${path##*/}"; page="${page%.gz}"
      [[ "$lang" == man* ]] && source="man-$page" || source="man-$lang-$page" ;;
    *)
      rest="${path#/usr/share/doc/}"; source="${rest%.gz}"; source="${source%.txt}" ;;
  esac
  source="$(printf '%s' "$source" | tr -c 'A-Za-z0-9._+-' '-' | cut -c1-80)"
  made=$((made + 1))
  mv "$work" "$output/$(printf 'doc-%05d' "$made")-$source.txt"
  total_bytes=$((total_bytes + size))
  if [ $((made % 500)) = 0 ]; then echo "  $made files..." >&2; fi
  [ "$made" -lt "$count" ] || break
done < "$candidates.ordered"
elapsed=$(( $(date +%s) - started ))

echo "skipped: $skipped_small under $min_bytes bytes, $skipped_binary binary or unreadable, $skipped_duplicate duplicates; cut to $max_bytes bytes: $cut_large"
if [ "$made" -lt "$count" ]; then
  echo "error: only $made distinct documents could be made from this machine's $available candidates (wanted $count)" >&2
  exit 1
fi
awk -v n="$made" -v b="$total_bytes" -v s="$elapsed" -v dir="$output" 'BEGIN {
  printf "corpus: %d files in %s, %.1f MB, mean %.1f KB, made in %d s\n", n, dir, b / 1e6, b / n / 1e3, s
}'
