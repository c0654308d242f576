#!/bin/sh
# Counts visits in the named volume and asks the api service, by its name.
n=$(( $(cat /data/visits 2>/dev/null || echo 0) + 1 ))
echo "$n" >/data/visits
printf 'Content-Type: text/plain\r\n\r\n'
echo "visit $n to $(hostname); the api service says: $(wget -qO- http://api:9000/)"
