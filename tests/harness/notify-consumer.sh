#!/bin/sh
# notify-consumer.sh LOG: a NotificationExec program for the end-to-end
# tests. collectd-exec(5) gives a notification on stdin as header lines, a
# blank line, then the message; this appends one line per notification to
# LOG: severity=... plugin=... plugin_instance=... type=... type_instance=...
# message=...
severity= plugin= pinst= type= tinst=
while IFS= read -r line && [ -n "$line" ]; do
  case $line in
    Severity:*) severity=${line#Severity: } ;;
    Plugin:*) plugin=${line#Plugin: } ;;
    PluginInstance:*) pinst=${line#PluginInstance: } ;;
    Type:*) type=${line#Type: } ;;
    TypeInstance:*) tinst=${line#TypeInstance: } ;;
  esac
done
message=$(tr '\n' ' ' | sed 's/ *$//')
printf 'severity=%s plugin=%s plugin_instance=%s type=%s type_instance=%s message=%s\n' \
  "$severity" "$plugin" "$pinst" "$type" "$tinst" "$message" >> "$1"
