#!/bin/sh
# Record a small-message capture (issue 8's "ab -k style" figure, frames/s):
# ApacheBench with keep-alive (HTTP/1.0 + Connection: keep-alive, 50
# connections) against nginx serving a 100-byte file on loopback, so almost
# every frame is a whole small request or response and the analysis, not the
# bytes, is the work.
# Runs in a private network namespace whose loopback has a 1500-byte MTU and
# no segmentation offloads (as record-bigcap.sh); tcpdump at a higher
# priority than the client so the kernel drops nothing.
# usage: record-smallcap.sh OUT.pcap [REQUESTS]   (root; nginx, ab, tcpdump, ip, ethtool)
set -eu
OUT=$(realpath "$1"); N=${2:-1000000}
if [ -z "${IN_NS:-}" ]; then
  NS=capgen-small-$$
  ip netns add $NS
  trap 'ip netns del $NS' EXIT
  ip netns exec $NS ip link set lo up mtu 1500
  ip netns exec $NS ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
  IN_NS=1 ip netns exec $NS "$0" "$OUT" "$N"
  exit
fi
W=$(mktemp -d); chmod 755 "$W"; mkdir "$W/www"
head -c 75 /dev/urandom | base64 > "$W/www/s.txt"
cat > "$W/nginx.conf" <<EOC
worker_processes 1; pid $W/nginx.pid; error_log $W/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:18181; root $W/www; } }
EOC
nginx -c "$W/nginx.conf"
nice -n -10 tcpdump -i lo -B 524288 -s 0 -w "$OUT" tcp port 18181 2>"$W/td.log" &
TD=$!
i=0
until grep -q listening "$W/td.log" 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
sleep 1
nice -n 10 ab -q -k -c 50 -n "$N" http://127.0.0.1:18181/s.txt >&2 || true
sleep 1
kill -INT $TD; wait $TD || true
nginx -c "$W/nginx.conf" -s stop
cat "$W/td.log" >&2
ls -la "$OUT" >&2
