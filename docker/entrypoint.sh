#!/bin/sh
# The image's entry point, after redis's official one:
#   (no arguments)            ferrocache /etc/ferrocache/ferrocache.conf
#   --port 7000 ...           ferrocache /etc/ferrocache/ferrocache.conf --port 7000 ...
#   /path/redis.conf [opts]   ferrocache /path/redis.conf [opts]   (the file replaces the default)
#   anything else             run as given (redis-cli, sh, ferrocache ...)
# exec: ferrocache becomes PID 1 and receives `docker stop`'s SIGTERM itself.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- ferrocache /etc/ferrocache/ferrocache.conf "$@"
elif [ "${1%.conf}" != "$1" ]; then
    set -- ferrocache "$@"
fi
exec "$@"
