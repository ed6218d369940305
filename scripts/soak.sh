#!/usr/bin/env bash
# `npm run soak [-- --connections N --duration S]`: raises the open-file limit, then runs
# scripts/soak.ts. Server and clients are separate processes, each holding one fd per connection,
# so each needs N fds plus a margin; the soft limit (often 1024) is raised toward the hard limit.
# (Node itself raises its soft limit to the hard one at startup, so the hard limit is what counts:
# this checks it up front, with a clear message, instead of failing with EMFILE midway.)
set -euo pipefail
cd "$(dirname "$0")/.."

connections=10000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --connections | -c) connections="${args[i + 1]:-}" ;;
    --connections=*) connections="${args[i]#*=}" ;;
  esac
done
if ! [[ "$connections" =~ ^[0-9]+$ ]]; then
  echo "soak: --connections must be a positive integer, got '$connections'" >&2
  exit 2
fi
# Must match FD_MARGIN in soak.ts: stdio, IPC, epoll, worker threads...
needed=$((connections + 512))

hard=$(ulimit -Hn)
# Up to the hard limit (a non-root process may go no further); "unlimited" really means the kernel's nr_open.
if [[ "$hard" == unlimited ]]; then
  ulimit -Sn "$needed" 2>/dev/null || true
else
  ulimit -Sn "$hard" 2>/dev/null || true
fi
soft=$(ulimit -Sn)
if [[ "$soft" != unlimited ]] && ((soft < needed)); then
  cat >&2 <<MSG
soak: $connections connections need $needed open files per process, but the limit is $soft
      (hard limit $hard, which only root can raise: e.g. 'ulimit -Hn $needed' as root,
      /etc/security/limits.conf, or 'docker run --ulimit nofile=$needed:$needed').
      Or try fewer: npm run soak -- --connections $((hard > 512 ? hard - 512 : 100))
MSG
  exit 2
fi
echo "soak: open-file limit $soft (hard $hard), $needed needed per process"
exec node --import tsx/esm scripts/soak.ts "$@"
