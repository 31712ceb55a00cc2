#!/bin/sh
# The demo's `rkc run` exec handler (scripts/demo): one process per message, the value on
# stdin, the metadata in RKC_* variables. An order is a JSON object with a positive "qty";
# anything else is rejected for good (exit 1: permanent, so it goes to the dead-letter topic
# at once, with this script's last stderr line as the error message). Exit 75 would ask for a
# retry instead.
order=$(cat)
case "$order" in
  '{'*'"qty":'[1-9]*'}')
    echo "processed $RKC_TOPIC/$RKC_PARTITION/$RKC_OFFSET key=$RKC_KEY $order"
    exit 0
    ;;
esac
echo "not a valid order (need a JSON object with a positive qty): $order" >&2
exit 1
