package qb;
# The qb Perl module of triggerfish callbacks (core perl only: HTTP::Tiny, JSON::PP).
#
#   qb::unblock($qb::jobid);            qb::block(12, 13);      qb::kill("12");
#   qb::workunblock("$qb::jobid:5");    qb::workblock(...);     qb::workkill(...)
#   my @jobs = qb::jobinfo("-id", $qb::jobid);  print $jobs[0]->{status};
#
# It speaks to the supervisor named by TRIGGERFISH_URL and sends
# "Authorization: Bearer $ENV{TRIGGERFISH_TOKEN}" when that variable is set. A verb on a target
# already in the wanted state is not an error (Qube's rule): that target is left out of the
# returned list. Other refusals die with the supervisor's message.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;

our $jobid = $ENV{QBJOBID};
our $subid = $ENV{QBSUBID};
our $workid = $ENV{QBWORKNAME};
our $event = decode_json($ENV{TRIGGERFISH_EVENT} || '{}');
our $bindings = decode_json($ENV{TRIGGERFISH_BINDINGS} || '{}');
our $url = $ENV{TRIGGERFISH_URL} || 'http://127.0.0.1:8765';
$url =~ s{/+$}{};

my $json = JSON::PP->new->utf8->canonical;
my $http;

sub jobid { return $jobid }
sub subid { return $subid }
sub workid { return $workid }
sub event { return $event }

sub _request {
    my ($method, $path, $body) = @_;
    $http ||= HTTP::Tiny->new(timeout => 30, agent => 'triggerfish-qb-perl/1');
    my %headers = ('Accept' => 'application/json');
    $headers{'Authorization'} = "Bearer $ENV{TRIGGERFISH_TOKEN}" if $ENV{TRIGGERFISH_TOKEN};
    my %opt = (headers => \%headers);
    if (defined $body) {
        $headers{'Content-Type'} = 'application/json';
        $opt{content} = $json->encode($body);
    }
    my $res = $http->request($method, "$url/api/v1$path", \%opt);
    my $data = eval { length($res->{content} // '') ? $json->decode($res->{content}) : {} };
    $data = { error => { message => $res->{content} // $res->{reason} } } unless ref $data;
    return ($res->{status}, $data);
}

sub _message {
    my ($status, $data) = @_;
    my $err = ref($data) eq 'HASH' ? $data->{error} : undef;
    my $msg = ref($err) eq 'HASH' ? $err->{message} : undef;
    return "qb: HTTP $status: " . ($msg // 'request failed');
}

sub _targets {
    my ($work, @args) = @_;
    my @out = map { ref($_) eq 'ARRAY' ? @$_ : $_ } @args;
    die "qb: give at least one target\n" unless @out;
    for my $t (@out) {
        die "qb: target is undefined\n" unless defined $t;
        if ($work) {
            die "qb: '$t' is not a work id such as '12:5'\n" unless "$t" =~ /^\d+:.+$/s;
        } else {
            die "qb: '$t' is not a job id such as 12 or '12.0'\n" unless "$t" =~ /^\d+(\.\d+)?$/;
        }
    }
    return map {"$_"} @out;
}

sub _control {
    my ($action, $work, @args) = @_;
    my @done;
    for my $t (_targets($work, @args)) {
        my ($status, $data) = _request('POST', '/control', { action => $action, targets => [$t] });
        if ($status == 200) {
            push @done, map { $_->{target} } @{ $data->{results} || [] };
        } elsif ($status != 409) {
            die _message($status, $data) . "\n";
        }
    }
    return @done;
}

sub unblock { return _control('unblock', 0, @_) }
sub block { return _control('block', 0, @_) }
sub kill { return _control('kill', 0, @_) }
sub retry { return _control('retry', 0, @_) }
sub requeue { return _control('requeue', 0, @_) }
sub remove { return _control('remove', 0, @_) }
sub workunblock { return _control('unblock', 1, @_) }
sub workblock { return _control('block', 1, @_) }
sub workkill { return _control('kill', 1, @_) }
sub workretry { return _control('retry', 1, @_) }
sub workrequeue { return _control('requeue', 1, @_) }
sub unblockwork { return workunblock(@_) }
sub blockwork { return workblock(@_) }
sub killwork { return workkill(@_) }
sub retrywork { return workretry(@_) }
sub requeuework { return workrequeue(@_) }

# Callback form: jobinfo("-id", N [, "-agenda"]) or jobinfo("-pgrp", N); a list of job hashes
# as GET /api/v1/jobs/{id} gives them (an id that does not exist gives no entry).
sub jobinfo {
    my @args = @_;
    my (%filter, %flag);
    while (@args) {
        my $opt = shift @args;
        die "qb::jobinfo: expected an option such as '-id', got '$opt'\n" unless $opt =~ /^-(\w+)$/;
        my $key = lc $1;
        if ($key eq 'agenda' || $key eq 'subjobs' || $key eq 'callbacks') { $flag{$key} = 1; next }
        die "qb::jobinfo: option '$opt' needs a value\n" unless @args;
        $filter{$key} = shift @args;
    }
    my $agenda = $flag{agenda} ? 'true' : 'false';
    my @ids;
    if (defined $filter{id}) {
        @ids = map { split /\s*,\s*/ } (ref($filter{id}) eq 'ARRAY' ? @{ $filter{id} } : $filter{id});
    } else {
        my @q = map { "$_=$filter{$_}" } grep { defined $filter{$_} } qw(pgrp status label user name);
        my ($status, $data) = _request('GET', '/jobs?limit=100000' . join('', map {"&$_"} @q));
        die _message($status, $data) . "\n" unless $status == 200;
        @ids = map { $_->{id} } @{ $data->{jobs} || [] };
    }
    my @out;
    for my $id (@ids) {
        die "qb::jobinfo: '$id' is not a job id\n" unless $id =~ /^\d+$/;
        my ($status, $data) = _request('GET', "/jobs/$id?agenda=$agenda");
        next if $status == 404;
        die _message($status, $data) . "\n" unless $status == 200;
        my $fields = delete $data->{fields} || {};
        for my $k (keys %$fields) { $data->{$k} = $fields->{$k} unless exists $data->{$k} }
        push @out, $data;
    }
    return wantarray ? @out : \@out;
}

1;
