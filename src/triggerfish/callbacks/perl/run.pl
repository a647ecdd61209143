# The process a perl callback runs in: perl -I<this dir> run.pl, the code on stdin.
# $qb::jobid, $qb::subid, $qb::workid (the work name), $qb::event and $qb::bindings are
# preset from the environment (see qb.pm); whatever the code does ends this process only.
use strict;
use warnings;
use qb;

my $code = do { local $/; <STDIN> };
$| = 1;
my $ok = eval "package main;\nno strict;\n#line 1 \"callback\"\n$code\n;1";
if (!$ok) {
    my $err = $@ || "unknown error";
    print STDERR $err;
    exit 1;
}
exit 0;
