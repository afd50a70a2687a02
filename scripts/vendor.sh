#!/usr/bin/env bash
# Re-vendor the front-end packages into static/vendor/ (run via `make vendor`).
#
# Each package is fetched with `npm pack` (no node_modules, no package.json
# needed), and its minified build plus its LICENSE are copied in with the
# version in the file name, e.g. static/vendor/htmx-2.0.11.min.js. A package
# that needs several files (pdf.js: the library and its worker, which import
# each other by relative URL) gets a directory instead, with the version in
# its name: static/vendor/pdfjs-6.5.438/pdf.min.mjs. Older versions of the
# same files are removed and static/vendor/README.md is regenerated. Commit
# the result.
set -euo pipefail

# npm spec | name in static/vendor | file(s) inside the package tarball (comma separated)
PACKAGES=(
    "htmx.org@~2.0|htmx|package/dist/htmx.min.js"          # htmx 2.0.x (not 4.x)
    "htmx-ext-sse@^2|htmx-ext-sse|package/dist/sse.min.js" # SSE extension for htmx 2
    # PDF viewer (ES modules); the version is pinned in dealroom/web/content.py (PDFJS_VERSION)
    "pdfjs-dist@^6|pdfjs|package/build/pdf.min.mjs,package/build/pdf.worker.min.mjs"
    # Charts on the room analytics page (UMD build: a plain <script>, sets window.Chart)
    "chart.js@^4|chart.js|package/dist/chart.umd.min.js"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/static/vendor"

command -v npm >/dev/null || { echo "vendor.sh: npm is required (apt-get install -y npm)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$DEST"

rows=()
for entry in "${PACKAGES[@]}"; do
    IFS='|' read -r spec name file <<<"$entry"
    work="$TMP/$name"
    mkdir -p "$work"
    tarball="$(cd "$work" && npm pack --silent --loglevel=error "$spec" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$work"
    meta="$work/package/package.json"
    version="$(node -p 'require(process.argv[1]).version' "$meta")"
    license="$(node -p 'require(process.argv[1]).license || ""' "$meta")"
    # LICENSE, LICENSE.md or LICENSE.txt, whichever the package ships.
    license_file="$(find "$work/package" -maxdepth 1 -iname 'LICENSE*' | sort | head -n 1)"
    [ -n "$license_file" ] || { echo "vendor.sh: $spec has no LICENSE file" >&2; exit 1; }
    if [ -z "$license" ]; then # no "license" field: name it from the LICENSE text
        if grep -qiE 'zero.clause' "$license_file"; then
            license="0BSD"
        else
            license="$(grep -m1 -v '^[[:space:]]*$' "$license_file")"
        fi
    fi
    IFS=',' read -r -a files <<<"$file"
    for f in "${files[@]}"; do
        [ -f "$work/$f" ] || { echo "vendor.sh: $spec has no $f" >&2; exit 1; }
    done

    if [ "${#files[@]}" -gt 1 ]; then
        # Several files: one directory per version, e.g. static/vendor/pdfjs-6.5.438/.
        dir="$name-$version"
        find "$DEST" -mindepth 1 -maxdepth 1 -type d -name "$name-[0-9]*" ! -name "$dir" \
            -print -exec rm -rf {} + | sed 's/^/removed /'
        rm -rf "${DEST:?}/$dir"
        mkdir -p "$DEST/$dir"
        for f in "${files[@]}"; do cp "$work/$f" "$DEST/$dir/"; done
        cp "$license_file" "$DEST/$dir/LICENSE.txt"
        echo "vendored ${spec%@*} $version -> static/vendor/$dir/"
        rows+=("| \`$dir/\` (${files[*]##*/}) | ${spec%@*} | $version | $license (\`$dir/LICENSE.txt\`) | \`$spec\` |")
        continue
    fi

    ext="${file##*/}"           # htmx.min.js / sse.min.js / chart.umd.min.js
    ext=".${ext#*.}"            # .min.js / .umd.min.js
    js="$name-$version$ext"
    lic="$name-$version.LICENSE.txt"

    # Drop previously vendored versions of this package.
    find "$DEST" -maxdepth 1 -type f \
        \( -name "$name-[0-9]*$ext" -o -name "$name-[0-9]*.LICENSE.txt" \) \
        ! -name "$js" ! -name "$lic" -print -delete | sed 's/^/removed /'

    cp "$work/$file" "$DEST/$js"
    cp "$license_file" "$DEST/$lic"
    echo "vendored ${spec%@*} $version -> static/vendor/$js"
    rows+=("| \`$js\` | ${spec%@*} | $version | $license (\`$lic\`) | \`$spec\` |")
done

{
    echo "# Vendored front-end files"
    echo
    echo "Served as-is from \`/static/vendor/\`; no build step. Run \`make vendor\` to update"
    echo "(it runs \`scripts/vendor.sh\`, which fetches the packages with \`npm pack\`,"
    echo "replaces the files below and rewrites this README), then update the"
    echo "\`<script>\` tags in the templates to the new file names and commit."
    echo
    echo "| File | npm package | Version | Licence | npm spec |"
    echo "| --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "htmx is pinned to 2.0.x: htmx 4 is a different major version, and"
    echo "htmx-ext-sse 2.x is the SSE extension that works with htmx 2."
    echo
    echo "pdf.js is two ES modules that load each other by relative URL, so they keep"
    echo "their own names inside a versioned directory. After an update, set"
    echo "\`PDFJS_VERSION\` in \`dealroom/web/content.py\` to the new version."
    echo
    echo "Chart.js is its UMD build (a plain script that defines \`window.Chart\`), used by"
    echo "\`static/analytics.js\` on the room analytics page; after an update, change the"
    echo "file name in \`templates/analytics/page.html\`."
} >"$DEST/README.md"
echo "wrote static/vendor/README.md"
