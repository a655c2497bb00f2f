#!/usr/bin/env bash
# Charts for the benchmark report (docs/performance.md): turns the JSON result files of the
# Ward benchmarks and the peer benchmarks (bench/peers/) into PNGs.
#
#   bench/report/charts.sh RESULTS_DIR OUT_DIR
#
# Reads from RESULTS_DIR (each file one JSON object unless noted):
#   openssl.json      {"sign_us","verify_us","after":{...}}   ECDSA P-256 floor from openssl speed
#                                                             (at the start; "after": re-measured)
#   issue.json        {"issued",...,"server_cpu_us_per_op"}   Ward X.509-SVID issuance, agent API
#   rounds.json       {"rounds":[...],"issue_ratio_median","validate_ratio_median"}  the two
#                     targets against a floor taken right before each round (cost.png's
#                     X.509 and validation pairs are the median rounds when present)
#   micro.json        {"jwt_mint_us","jwt_validate_us","x509_issue_us"}  Ward microbenchmarks
#   fetch.json, jwt_validate.json, jwt_validate_cached.json   {"p50_ms","p99_ms",...} Workload API
#   agents.json       {"agents","p50_ms","p99_ms",...}        agent sync
#   propagation.json  {"samples","p50_ms","p99_ms"}           entry -> SVID propagation
#   load.json         [{"entries","ready_seconds","rss_bytes"},...]  server startup vs entries
#   cfssl.json        bench/peers/cfssl_bench.sh output
#   jose.json         bench/peers/jose_validate.mjs output
# Writes to OUT_DIR:
#   cost.png     CPU µs per operation, Ward vs the cryptography floor (with the 1.25x target)
#   latency.png  p50/p99 latency of the Workload API, agent sync and propagation
#   peers.png    Ward vs cfssl (CPU per signed certificate) and vs jose (CPU per JWT validation)
#   load.png     server ready time and RSS vs number of entries
# A chart whose inputs are missing is skipped with a note on stderr. Needs jq and gnuplot
# (Debian: apt-get install -y jq gnuplot-nox). jq writes small tab-separated data files into a
# temp dir; each chart is one gnuplot script reading them.
set -euo pipefail

if [ $# -ne 2 ]; then sed -n '2,24p' "$0" >&2; exit 2; fi
RES=$1
OUT=$2
for tool in jq gnuplot; do
  command -v "$tool" >/dev/null || { echo "charts: missing $tool (apt-get install -y jq gnuplot-nox)" >&2; exit 1; }
done
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ward-charts.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

note() { echo "charts: $*" >&2; }
# have FILE...: true when every RESULTS_DIR/FILE exists.
have() { local f; for f in "$@"; do [ -f "$RES/$f" ] || return 1; done; }
# val FILE JQ_EXPR: prints the value, or NaN (which gnuplot leaves out) if the file or value is missing.
val() { if have "$1"; then jq -r "($2) // \"NaN\"" "$RES/$1"; else echo NaN; fi; }

# Settings shared by every chart.
COMMON='
set terminal pngcairo size 1000,560 enhanced font "DejaVu Sans,11"
set datafile separator "\t"
set datafile missing "NaN"
set border 3
set tics nomirror
set grid ytics lc rgb "#dddddd"
set xtics scale 0
set key top center horizontal
set bmargin 4.5
set style fill solid 0.9 border -1
WARD = "#1f6fb2"; FLOOR = "#9a9a9a"; PEER = "#e08a2c"; P99 = "#8cb8e0"
'
# The two CPU-per-operation charts: paired bars per group, room above them for value labels.
CPU_BARS='
set ylabel "CPU µs per operation"
set yrange [0:*]
set offsets 0, 0, graph 0.22, 0
set boxwidth 0.34
'

# (a) cost.png: CPU µs per operation vs the cryptography floor.
chart_cost() {
  if ! have openssl.json; then note "skipping cost.png: missing openssl.json"; return; fi
  local sign verify
  sign=$(val openssl.json .sign_us)
  verify=$(val openssl.json .verify_us)
  # columns: x, label line 1, label line 2, floor, Ward
  # The X.509 pair comes from the median ratio round when there are rounds (its own floor and
  # its own measurement), else from issue.json against the run's first floor.
  # Likewise the validation pair: the median round's ValidateJWTSVID through the Workload API,
  # else the in-process microbenchmark.
  local x509_floor x509_ward x509_label='floor: sign + verify CSR'
  local jwt_floor="$verify" jwt_ward jwt_label='floor: verify (in process)'
  jwt_ward=$(val micro.json .jwt_validate_us)
  if have rounds.json; then
    read -r x509_floor x509_ward < <(jq -r '.rounds | sort_by(.issue_ratio) | .[length / 2 | floor]
      | "\(.sign_us + .verify_us) \(.issue_us)"' "$RES/rounds.json")
    x509_label='median round: sign + verify CSR'
    read -r jwt_floor jwt_ward < <(jq -r '.rounds | sort_by(.validate_ratio)
      | .[length / 2 | floor] | "\(.verify_us) \(.validate_us)"' "$RES/rounds.json")
    jwt_label='median round via Workload API: verify'
  else
    x509_floor=$(jq -n "$sign + $verify")
    x509_ward=$(val issue.json .server_cpu_us_per_op)
  fi
  {
    printf '0\tX.509-SVID issue\t%s\t%s\t%s\n' "$x509_label" "$x509_floor" "$x509_ward"
    printf '1\tJWT-SVID mint\tfloor: sign\t%s\t%s\n' "$sign" "$(val micro.json .jwt_mint_us)"
    printf '2\tJWT-SVID validate\t%s\t%s\t%s\n' "$jwt_label" "$jwt_floor" "$jwt_ward"
  } >"$TMP/cost.dat"
  have issue.json || note "cost.png: no issue.json, X.509 Ward bar left out"
  have micro.json || note "cost.png: no micro.json, JWT Ward bars left out"
  gnuplot <<EOF
$COMMON
set output "$OUT/cost.png"
$CPU_BARS
set title "CPU µs per operation vs the cryptography floor (ECDSA P-256, openssl speed)"
set xrange [-0.6:2.6]
# The target is a dashed segment at 1.25 x floor across each group; Ward bars say how far off the floor they are.
plot "$TMP/cost.dat" using 1:(0):(""):xtic(strcol(2)."\n".strcol(3)) with labels notitle, \
     "" using (\$1-0.18):4 with boxes lc rgb FLOOR title "cryptography floor", \
     "" using (\$1+0.18):5 with boxes lc rgb WARD title "Ward (measured)", \
     "" using (\$1-0.42):(1.25*\$4):(0.84):(0) with vectors nohead dt 2 lw 2.5 lc rgb "#c0392b" title "target: 1.25 × floor", \
     "" using (\$1-0.18):4:(sprintf("%.1f", \$4)) with labels offset 0,0.8 notitle, \
     "" using (\$1+0.18):(valid(5) ? (\$5 > 1.25*\$4 ? \$5 : 1.25*\$4) : NaN):(sprintf("%.1f\n(%.2f× floor)", \$5, \$5/\$4)) with labels offset 0,1.6 notitle
EOF
  note "wrote $OUT/cost.png"
}

# (b) latency.png: p50 and p99 latency, log scale.
chart_latency() {
  local x=0 f label
  : >"$TMP/latency.dat"
  # input: file, label line 1, label line 2; output columns: x, line 1, line 2, p50, p99
  while IFS=$'\t' read -r f label label2; do
    if have "$f"; then
      [ "$f" = agents.json ] && label2="($(val agents.json .agents) agents)"
      printf '%s\t%s\t%s\t%s\t%s\n' "$x" "$label" "$label2" "$(val "$f" .p50_ms)" "$(val "$f" .p99_ms)" >>"$TMP/latency.dat"
      x=$((x + 1))
    else
      note "latency.png: no $f, left out"
    fi
  done <<'EOF'
fetch.json	FetchX509SVID	 
jwt_validate.json	ValidateJWTSVID	(distinct tokens)
jwt_validate_cached.json	ValidateJWTSVID	(repeated token)
agents.json	agent sync	 
propagation.json	entry → SVID	propagation
EOF
  if [ "$x" -eq 0 ]; then note "skipping latency.png: no latency inputs"; return; fi
  gnuplot <<EOF
$COMMON
set output "$OUT/latency.png"
set title "Latency (ms, log scale)"
set ylabel "milliseconds"
set logscale y
set format y "%g"
set xrange [-0.6:$x-0.4]
set offsets 0, 0, graph 0.1, 0
set boxwidth 0.36
# Boxes on a log axis need an explicit floor: draw them from a small value instead of 0.
lo = 0.001
stats "$TMP/latency.dat" using 4 nooutput
lo = STATS_min / 4
set yrange [lo:*]
plot "$TMP/latency.dat" using 1:(lo):(""):xtic(strcol(2)."\n".strcol(3)) with labels notitle, \
     "" using (\$1-0.19):(lo):(\$1-0.37):(\$1-0.01):(lo):4 with boxxyerror lc rgb WARD title "p50", \
     "" using (\$1+0.19):(lo):(\$1+0.01):(\$1+0.37):(lo):5 with boxxyerror lc rgb P99 title "p99", \
     "" using (\$1-0.19):4:(sprintf("%.3g", \$4)) with labels offset 0,0.8 notitle, \
     "" using (\$1+0.19):5:(sprintf("%.3g", \$5)) with labels offset 0,0.8 notitle
EOF
  note "wrote $OUT/latency.png"
}

# (c) peers.png: Ward vs peer implementations, CPU µs per operation.
chart_peers() {
  if ! have cfssl.json && ! have jose.json; then note "skipping peers.png: no cfssl.json or jose.json"; return; fi
  local sign=NaN verify=NaN floor_cert=NaN
  if have openssl.json; then
    sign=$(val openssl.json .sign_us); verify=$(val openssl.json .verify_us)
    floor_cert=$(jq -n "$sign + $verify")
  fi
  # columns: x, label line 1, label line 2, Ward, peer, floor
  : >"$TMP/peers.dat"
  local x=0
  if have cfssl.json; then
    printf '%s\tCPU µs per signed X.509 certificate\tWard agent API vs cfssl HTTP API\t%s\t%s\t%s\n' "$x" \
      "$(val issue.json .server_cpu_us_per_op)" "$(val cfssl.json .server_cpu_us_per_op)" "$floor_cert" >>"$TMP/peers.dat"
    x=$((x + 1))
  else
    note "peers.png: no cfssl.json, certificate group left out"
  fi
  if have jose.json; then
    printf '%s\tCPU µs per JWT-SVID validation\tWard (in-process) vs jose (Node)\t%s\t%s\t%s\n' "$x" \
      "$(val micro.json .jwt_validate_us)" "$(val jose.json .cpu_us_per_op)" "$verify" >>"$TMP/peers.dat"
    x=$((x + 1))
  else
    note "peers.png: no jose.json, JWT group left out"
  fi
  gnuplot <<EOF
$COMMON
set output "$OUT/peers.png"
$CPU_BARS
set title "Ward vs peers: CPU µs per operation (lower is better)"
set xrange [-0.6:$x-0.4]
plot "$TMP/peers.dat" using 1:(0):(""):xtic(strcol(2)."\n".strcol(3)) with labels notitle, \
     "" using (\$1-0.18):4 with boxes lc rgb WARD title "Ward", \
     "" using (\$1+0.18):5 with boxes lc rgb PEER title "peer (cfssl / jose)", \
     "" using (\$1-0.42):6:(0.84):(0) with vectors nohead dt 2 lw 2.5 lc rgb FLOOR title "cryptography floor", \
     "" using (\$1-0.18):4:(sprintf("%.1f", \$4)) with labels offset 0,0.8 notitle, \
     "" using (\$1+0.18):5:(sprintf("%.1f", \$5)) with labels offset 0,0.8 notitle
EOF
  note "wrote $OUT/peers.png"
}

# (d) load.png: ready time and RSS vs number of entries.
chart_load() {
  if ! have load.json; then note "skipping load.png: missing load.json"; return; fi
  # columns: entries, ready seconds, RSS MiB
  jq -r 'sort_by(.entries)[] | [.entries, .ready_seconds, (.rss_bytes / 1048576)] | @tsv' \
    "$RES/load.json" >"$TMP/load.dat"
  if [ ! -s "$TMP/load.dat" ]; then note "skipping load.png: load.json has no rows"; return; fi
  gnuplot <<EOF
$COMMON
set terminal pngcairo size 1000,700
set output "$OUT/load.png"
set multiplot layout 2,1 title "Server startup with N registration entries (log-log)"
set lmargin 10
set rmargin 4
set logscale xy
set format x "%.0s%c"
set format y "%g"
set autoscale xfix
set offsets graph 0.06, graph 0.06, 0, 0
set key off
set bmargin 2.5
set ylabel "seconds until ready"
plot "$TMP/load.dat" using 1:2 with linespoints pt 7 ps 1.2 lw 2 lc rgb WARD, \
     "" using 1:2:(sprintf("%.2f s", \$2)) with labels offset 0,1 tc rgb WARD
set bmargin 4
set xlabel "entries"
set ylabel "RSS (MiB)"
plot "$TMP/load.dat" using 1:3 with linespoints pt 5 ps 1.2 lw 2 lc rgb PEER, \
     "" using 1:3:(sprintf("%.0f MiB", \$3)) with labels offset 0,1 tc rgb PEER
unset multiplot
EOF
  note "wrote $OUT/load.png"
}

chart_cost
chart_latency
chart_peers
chart_load
