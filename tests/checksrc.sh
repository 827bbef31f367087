#!/usr/bin/env bash
# make checksrc: bans unsafe C calls and // comments in our sources (libs/
# services/ deploy/ tests/ and top-level *.c *.h). Calls are matched in code
# only (not in comments or string literals); prints file:line for each hit and
# fails, or prints "checksrc: clean".
#   sprintf( vsprintf(  -> snprintf / xasprintf
#   strcpy( strcat(     -> snprintf, or memcpy with a checked length
#   atoi(               -> strtol/strtoll with end-pointer and range checks
#   gets(               -> fgets
#   // comment          -> /* */ (the project's one comment style)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -d '' files < <(
    { find libs services deploy tests -type d -name node_modules -prune -o \
          -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null || true
      find . -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) -print0; } |
    sort -z)

if (( ${#files[@]} == 0 )); then
    echo "checksrc: clean (no C sources yet)"
    exit 0
fi

perl -e '
use strict; use warnings;
my %hint = (
    sprintf  => "use snprintf or xasprintf",
    vsprintf => "use vsnprintf",
    strcpy   => "use snprintf or memcpy with a checked length",
    strcat   => "use snprintf or memcpy with a checked length",
    atoi     => "use strtol/strtoll and check the end pointer and range",
    gets     => "use fgets",
);
my $hits = 0;
for my $file (@ARGV) {
    open(my $fh, "<", $file) or die "checksrc: cannot read $file: $!\n";
    (my $name = $file) =~ s{^\./}{};
    my $in_comment = 0;
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ m{^\s*//}) {
            print "$name:$.: // comment (use /* */): $line\n"; $hits++;
        }
        # Keep only code: drop comments, string and character literals.
        my $code = "";
        my $i = 0; my $n = length $line;
        while ($i < $n) {
            if ($in_comment) {
                my $end = index($line, "*/", $i);
                if ($end < 0) { $i = $n; last; }
                $in_comment = 0; $i = $end + 2; $code .= " "; next;
            }
            my $c = substr($line, $i, 1);
            my $two = substr($line, $i, 2);
            if ($two eq "/*") { $in_comment = 1; $i += 2; next; }
            if ($two eq "//") { last; }
            if ($c eq chr(34) || $c eq chr(39)) {
                my $q = $c; $i++;
                while ($i < $n) {
                    my $d = substr($line, $i, 1);
                    if ($d eq "\\") { $i += 2; next; }
                    $i++;
                    last if $d eq $q;
                }
                $code .= " \"\" ";
                next;
            }
            $code .= $c; $i++;
        }
        while ($code =~ /\b(sprintf|vsprintf|strcpy|strcat|atoi|gets)\s*\(/g) {
            my $fn = $1;
            (my $shown = $line) =~ s/^\s+//;
            print "$name:$.: banned $fn(): $hint{$fn}: $shown\n"; $hits++;
        }
    }
    close $fh;
}
if ($hits) { print "checksrc: $hits problem(s)\n"; exit 1; }
print "checksrc: clean\n";
' -- "${files[@]}"
