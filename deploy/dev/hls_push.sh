#!/bin/sh
# hls_push.sh NAME RTMP_URL LIVE_DIR SEGMENT_S LOG_DIR: run by nginx-rtmp's
# exec_push when a publisher was accepted (stack.sh copies it next to the
# generated nginx.conf). Pulls the stream back from the local RTMP
# application and writes HLS with EXT-X-PROGRAM-DATE-TIME into
# LIVE_DIR/NAME/ (index.m3u8 and N.ts), cutting a segment at the first
# keyframe after every SEGMENT_S seconds (-c copy: the encoder's keyframe
# interval sets the real length). NAME is the public name the streaming
# daemon redirected the publisher to; anything else is refused, so a key
# can never become a directory. When the publisher goes, nginx-rtmp stops
# this process (SIGTERM), and ffmpeg ends anyway once no data came for 3 s
# (-rw_timeout); either way it ends the playlist (EXT-X-ENDLIST). Should
# ffmpeg die while the publisher goes on, nginx-rtmp runs this again:
# segment numbers start from the date-time, so a restart never reuses the
# name of a segment a player or cache may hold.
#
# The HLS muxer dates the first segment with the wall clock when it starts
# and every later one by adding durations. So it starts as soon as the
# stream's parameters are known (short probing) and -copyinkf keeps the
# frames before the first keyframe: the first segment then begins with the
# first frame that arrived, when the muxer started, and every date is right
# to ~0.1 s. Without it the first keyframe, up to one interval later, would
# open the first segment under the earlier date, and every date would be
# early by that wait. The price: the first segment starts mid-interval and
# lasts up to two intervals (players start at the live edge, past it).
set -eu
name=$1 src=$2 live=$3 seg=$4 logs=$5
case $name in
    *[!a-z0-9]*|'') echo "hls_push: refusing stream name '$name'" >&2; exit 1 ;;
esac
[ ${#name} -eq 16 ] || { echo "hls_push: refusing stream name '$name'" >&2; exit 1; }
dir=$live/$name
mkdir -p "$dir"
# Segments of an earlier publish that no playlist lists any more.
find "$dir" -maxdepth 1 -name '*.ts' -mmin +1 -delete 2>/dev/null || true
exec ffmpeg -nostdin -hide_banner -loglevel warning -fflags nobuffer \
    -analyzeduration 100000 -probesize 100000 -rw_timeout 3000000 \
    -i "$src/$name" -c copy -copyinkf -f hls -hls_time "$seg" -hls_list_size 6 \
    -hls_delete_threshold 2 -hls_start_number_source datetime \
    -hls_flags program_date_time+delete_segments+independent_segments+temp_file \
    -hls_segment_filename "$dir/%d.ts" "$dir/index.m3u8" >>"$logs/hls-$name.log" 2>&1
