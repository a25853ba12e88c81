#!/usr/bin/env bash
# Debian's prometheus and promtool for the metrics tests and `civicsight up --prometheus`.
# The hub runs its own Prometheus (its config, storage and port): the package's own
# service is stopped and disabled, so it never holds port 9090 or scrapes anything.
set -euo pipefail
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "the metrics tests need Debian's prometheus: sudo apt-get install -y --no-install-recommends prometheus" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if [ -d /run/systemd/system ]; then  # booted with systemd: the package started its service
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then  # no systemd (a container): policy-rc.d may have kept it from starting
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  update-rc.d prometheus disable >/dev/null 2>&1 || true
fi
