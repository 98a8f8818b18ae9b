# The governor's /metrics endpoint (poolgov.metrics_port): with port 0
# nothing of the governor listens (ss); enabled on reload it answers GET
# (a body promtool accepts), HEAD, 404, 405 and 400; a slowloris client, idle
# connections, a 1 MB header and clients that vanish or stop reading do not
# stop the governor from sampling, and a normal GET works afterwards; the
# port moves on reload; a busy port is retried; a non-loopback address is
# refused unless poolgov.metrics_allow_remote is on; a hot standby serves
# too, and so does a governor whose poolgov.database is missing.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use PoolgovTest;

my ($promtool) = grep { -x $_ } map { "$_/promtool" } split(/:/, $ENV{PATH} // ''), '/usr/bin';
BAIL_OUT('promtool not found: install the Debian package prometheus') unless $promtool;
my ($ss) = grep { -x $_ } map { "$_/ss" } split(/:/, $ENV{PATH} // ''), '/usr/bin', '/bin',
  '/usr/sbin', '/sbin';
BAIL_OUT('ss not found: install the Debian package iproute2') unless $ss;

# A client the server has closed must not kill the test on its next write.
$SIG{PIPE} = 'IGNORE';

my $node = poolgov_node('endpoint', init => { allows_streaming => 1 });

sub governor_pid
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'});
}

# The TCP ports the process listens on, from ss -ltnp.
sub listening_ports_of
{
	my ($pid) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $ss, '-ltnpH' ], '>', \$out, '2>', \$err) or die "ss: $err";
	my @ports;
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /pid=$pid,/;
		push @ports, $1 if $line =~ /:(\d+)\s+\S+:\S+\s+users:/;
	}
	return @ports;
}

# Sends $raw to 127.0.0.1:$port and reads until the server closes (at most
# 10 s). Returns (status, {lower-case header => value}, body), status undef
# if nothing came back.
sub http
{
	my ($port, $raw, %opts) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
	  or return (undef, {}, "connect: $!");
	$s->send($raw);
	shutdown($s, 1) if $opts{half_close};    # done sending, still reading
	kill 'CONT', $opts{resume} if $opts{resume};
	my $sel = IO::Select->new($s);
	my $resp = '';
	my $until = time + 10;
	while (time < $until && $sel->can_read($until - time))
	{
		my $n = sysread($s, my $chunk, 65536);
		last unless $n;
		$resp .= $chunk;
	}
	close $s;
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	return (undef, {}, $resp) unless defined $head && $head =~ m{^HTTP/1\.1 (\d{3}) };
	my $status = $1;
	my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head;
	return ($status, \%h, $body // '');
}

sub get_metrics { return http($_[0], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); }

sub can_connect
{
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
	return 0 unless $s;
	close $s;
	return 1;
}

# Polls (at most 30 s) until GET /metrics on $port answers 200 or not.
sub wait_serving
{
	my ($port, $want) = @_;
	for (1 .. 300)
	{
		my ($st) = get_metrics($port);
		return 1 if $want ? (defined $st && $st == 200) : !can_connect($port);
		sleep 0.1;
	}
	return 0;
}

sub set_conf
{
	my ($n, %settings) = @_;
	for my $k (sort keys %settings)
	{
		$n->safe_psql('postgres', "ALTER SYSTEM SET poolgov.$k = '$settings{$k}'");
	}
	$n->reload;
}

# --- port 0: nothing of the governor listens ------------------------------
my $gov = governor_pid($node);
ok($gov, 'the governor runs');
is_deeply([ listening_ports_of($gov) ], [], 'metrics_port = 0: the governor listens on no TCP port');

# --- enable on reload --------------------------------------------------------
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log_offset = -s $node->logfile;
set_conf($node, metrics_port => $port);
ok(wait_serving($port, 1), 'after a reload the endpoint answers');
is_deeply([ listening_ports_of($gov) ], [$port], 'the governor itself listens on the port');
like(slurp_file($node->logfile, $log_offset),
	qr{pg_poolgov governor: serving metrics on http://127\.0\.0\.1:$port/metrics},
	'the address and port are logged');

my ($st, $h, $body) = get_metrics($port);
is($st, 200, 'GET /metrics: 200');
is($h->{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'exposition content type');
is($h->{'content-length'}, length($body), 'Content-Length is the body length');
like($body, qr/^pg_poolgov_connections\{state="active"\} \d+$/m, 'the body is the exposition');
my $file = $node->basedir . '/http.prom';
open my $fh, '>', $file or die "$file: $!";
print $fh $body;
close $fh;
my ($pout, $perr) = ('', '');
my $rc = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', $file, '>', \$pout, '2>', \$perr);
ok($rc, 'promtool check metrics passes on the HTTP body');
is($pout . $perr, '', 'promtool has nothing to say about the HTTP body');
# Same families as poolgov.metrics() (same code path).
my $sql_text = $node->safe_psql('postgres', 'SELECT poolgov.metrics()');
my %fam = map { /^# TYPE (\S+)/ ? ($1 => 1) : () } split /\n/, $body;
my %sqlfam = map { /^# TYPE (\S+)/ ? ($1 => 1) : () } split /\n/, $sql_text;
is_deeply(\%fam, \%sqlfam, 'the endpoint serves the families poolgov.metrics() returns');

($st, $h) = get_metrics($port);
($st, $h, $body) = http($port, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n");
is($st, 200, 'GET /metrics?query: 200');
# The governor stopped while the request and the end of input arrive, so it
# sees both in one read.
kill 'STOP', $gov;
($st, $h, $body) = http($port, "GET /metrics HTTP/1.0\r\n\r\n", half_close => 1,
	resume => $gov);
is($st, 200, 'a client that half-closes after its request gets the answer');
($st, $h, $body) = http($port, "HEAD /metrics HTTP/1.1\r\n\r\n");
is($st, 200, 'HEAD /metrics: 200');
is($h->{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'HEAD: content type');
ok($h->{'content-length'} > 1000, 'HEAD: the length of the body it would send');
is($body, '', 'HEAD: no body');
($st) = http($port, "GET / HTTP/1.1\r\n\r\n");
is($st, 404, 'GET /: 404');
($st) = http($port, "GET /metrics/x HTTP/1.1\r\n\r\n");
is($st, 404, 'GET /metrics/x: 404');
($st, $h) = http($port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
is($st, 405, 'POST /metrics: 405');
is($h->{allow}, 'GET, HEAD', '405 says which methods are allowed');
($st) = http($port, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03");
is($st, 400, 'a TLS hello: 400');
($st) = http($port, "hello there\r\n\r\n");
is($st, 400, 'garbage: 400');

# --- abuse while the governor samples ----------------------------------------
# A large exposition (a budget gives a role its rows: 200 roles, 100 of
# them with their own series), so a response takes more than one send().
$node->safe_psql('postgres', q{
	DO $$ BEGIN FOR i IN 1..200 LOOP EXECUTE format('CREATE ROLE big_%s', i); END LOOP; END $$;
	SELECT count(poolgov.set_budget('big_' || i, 10)) FROM generate_series(1, 200) i;});
($st, $h, $body) = get_metrics($port);
ok(length($body) > 150_000, 'a large exposition: ' . length($body) . ' bytes');
sub samples_since
{
	my ($t0) = @_;
	return split /\|/, $node->safe_psql('postgres', qq{
		SELECT count(*),
		       coalesce(extract(epoch FROM max(gap)), 0)
		  FROM (SELECT sampled_at - lag(sampled_at) OVER (ORDER BY sampled_at) AS gap
		          FROM poolgov.history WHERE sampled_at > '$t0') s});
}
# The governor's TopMemoryContext (bytes allocated), from
# pg_log_backend_memory_contexts() in the server log (whose levels start at
# 1 from PostgreSQL 18 on).
my $top_level = $node->pg_version >= 18 ? 1 : 0;
sub governor_top_memory
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($gov)");
	$node->wait_for_log(qr/\[$gov\] LOG:  level: $top_level; TopMemoryContext: \d+ total/,
		$offset);
	my ($total) = slurp_file($node->logfile, $offset)
	  =~ /\[$gov\] LOG:  level: $top_level; TopMemoryContext: (\d+) total/;
	return $total;
}
my $top_before = governor_top_memory();
my $t0 = $node->safe_psql('postgres', 'SELECT now()');

# Ten idle connections (they send nothing). The governor serves at most 4
# clients; a new connection when all four are reading replaces the one
# reading longest: the six oldest are closed at once (long before the 5 s
# request timeout), the four newest are held.
my @idle = map {
	IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
	  or die "connect: $!"
} 1 .. 10;
sub closed_by_server
{
	my ($s) = @_;
	return 0 unless IO::Select->new($s)->can_read(0);
	my $n = sysread($s, my $buf, 1);
	return !$n;    # end of file, or reset
}
my @closed;
for (my $until = time + 3; time < $until; sleep 0.05)
{
	@closed = grep { closed_by_server($idle[$_]) } 0 .. 9;
	last if @closed >= 6;
}
is(join(',', @closed), '0,1,2,3,4,5',
	'of ten idle connections the governor closed the six oldest and holds the newest four');
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
	Blocking => 0);
my $big = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
	Blocking => 0);
my $big_closed = 0;
my $big_left = "GET /metrics HTTP/1.1\r\nX-Big: " . ('a' x (1 << 20));
# Asks for the exposition and goes away after the first bytes.
my $vanish = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
$vanish->send("GET /metrics HTTP/1.1\r\n\r\n");
sysread($vanish, my $first, 16);
close $vanish;
# Asks for it and never reads, with a tiny receive buffer.
my $stuck = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($stuck, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096) or die "setsockopt: $!";
$stuck->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
  or die "connect: $!";
$stuck->send("GET /metrics HTTP/1.1\r\n\r\n");

my $slowloris = "GET /metrics HTTP/1.1\r\nX-Slow: " . ('s' x 20);
my $window = 6;    # seconds of abuse
my $until = time + $window;
while (time < $until)
{
	if ($slow && length $slowloris)
	{
		syswrite($slow, substr($slowloris, 0, 1, ''), 1);
	}
	if (length $big_left && !$big_closed)
	{
		my $n = syswrite($big, $big_left, 65536);
		substr($big_left, 0, $n, '') if $n;
		$big_closed = 1 if !defined $n && !$!{EAGAIN};    # closed by the server
	}
	sleep 1;
}
# The governor holds the stuck client's response, unsent, while it samples.
my ($ssout, $sserr) = ('', '');
IPC::Run::run([ $ss, '-tnpH', 'state', 'established' ], '>', \$ssout, '2>', \$sserr);
my ($sendq) = map { /^\S+\s+(\d+)\s+\S+:$port\s/ ? $1 : () }
  grep { /pid=$gov,/ } split /\n/, $ssout;
ok(($sendq // 0) > 0, 'a response waits in the governor\'s socket for a client that does not read'
	  . ' (Send-Q ' . ($sendq // 'none') . ')');
my ($n, $maxgap) = samples_since($t0);
my $expected = $window / 0.1;
note "samples in ${window}s of abuse: $n (every 100ms: $expected), largest gap ${maxgap}s";
# Nothing the clients do blocks the governor: it keeps its 100 ms grid,
# with room for a loaded machine (a quarter of the samples may be lost, gaps
# may reach ten intervals) but not for a stall of a few hundred ms per
# client read.
ok($n >= $expected * 3 / 4, "the governor kept sampling during the abuse ($n samples)");
ok($maxgap < 1, "no sampling stall (largest gap between samples ${maxgap}s)");
# Sixty samples and a dozen responses later the governor's memory is where
# it was (each pass's allocations are freed with the pass).
my $top_after = governor_top_memory();
ok($top_after - $top_before < 65536,
	"the governor's TopMemoryContext did not grow ($top_before -> $top_after bytes)");
ok($big_closed, 'the server closed the connection sending a 1 MB header');
ok(length($big_left) > 0, 'before the 1 MB header was sent in full');
($st, $h, $body) = get_metrics($port);
is($st, 200, 'with the abusive clients still connected, a normal GET works');
close $_ for grep { defined } @idle, $slow, $big, $stuck;
($st, $h, $body) = get_metrics($port);
is($st, 200, 'afterwards, a normal GET works');
is($h->{'content-length'}, length($body), 'and gets the whole body');
is(governor_pid($node), $gov, 'the governor never restarted');

# --- the port moves on reload --------------------------------------------
my $port2 = PostgreSQL::Test::Cluster::get_free_port();
set_conf($node, metrics_port => $port2);
ok(wait_serving($port2, 1), 'after a port change the new port answers');
ok(wait_serving($port, 0), 'and the old one is closed');
is_deeply([ listening_ports_of($gov) ], [$port2], 'the governor listens only on the new port');

# --- a busy port: logged once, retried --------------------------------------
my $port3 = PostgreSQL::Test::Cluster::get_free_port();
my $squatter = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port3,
	Listen => 1, ReuseAddr => 1, Proto => 'tcp') or die "listen: $!";
$log_offset = -s $node->logfile;
set_conf($node, metrics_port => $port3);
ok($node->wait_for_log(qr/could not serve metrics on 127\.0\.0\.1 port $port3/, $log_offset),
	'a busy port is logged');
is(governor_pid($node), $gov, 'the governor goes on');
close $squatter;
ok(wait_serving($port3, 1), 'once the port is free, the governor takes it (retry)');
my $lines = () = slurp_file($node->logfile, $log_offset) =~ /could not serve metrics/g;
is($lines, 1, 'the failure was logged once, not at every retry');

# --- a non-loopback address --------------------------------------------------
$log_offset = -s $node->logfile;
set_conf($node, metrics_listen_address => '0.0.0.0');
ok($node->wait_for_log(qr/not serving metrics on non-loopback address "0\.0\.0\.0"/, $log_offset),
	'a non-loopback address is refused, with a warning');
ok(wait_serving($port3, 0), 'and nothing listens (not even on loopback)');
is_deeply([ listening_ports_of($gov) ], [], 'the governor listens on no port');
set_conf($node, metrics_allow_remote => 'on');
ok(wait_serving($port3, 1), 'with metrics_allow_remote = on it listens there');
like(slurp_file($node->logfile, $log_offset),
	qr/reachable from other hosts and has no authentication/,
	'and warns that the endpoint has no authentication');
set_conf($node, metrics_listen_address => '127.0.0.1', metrics_allow_remote => 'off');
($rc) = $node->psql('postgres', q{ALTER SYSTEM SET poolgov.metrics_listen_address = 'db.example.com'});
isnt($rc, 0, 'a host name is rejected (no DNS lookups in the governor)');

# --- a client that sends more after its request gets the whole response ------
# Closing a socket with unread input sends a reset, which destroys what the
# kernel had not yet sent: the governor drains such a client instead. The
# client reads through a 4 kB receive buffer, so most of the body is still
# in the governor's send queue when it has handed over the last byte.
ok(wait_serving($port3, 1), 'serving on loopback again');
{
	my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
	setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), pack('i', 4096))
	  or die "setsockopt: $!";
	$s->connect(Socket::pack_sockaddr_in($port3, Socket::inet_aton('127.0.0.1')))
	  or die "connect: $!";
	$s->send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	my ($resp, $err) = ('', '');
	my $sel = IO::Select->new($s);
	# The first bytes of the response: the governor has read the request.
	sysread($s, $resp, 1024) if $sel->can_read(10);
	$s->send('x');    # one byte more, which the governor will not read
	sleep(0.3);
	my $until = time + 10;
	while (time < $until && $sel->can_read($until - time))
	{
		my $n = sysread($s, my $chunk, 1024);
		$err = "$!" unless defined $n;
		last unless $n;
		$resp .= $chunk;
		sleep(0.001);
	}
	close $s;
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	my ($length) = ($head // '') =~ /Content-Length:\s*(\d+)/i;
	cmp_ok($length // 0, '>', 16384, 'the response is larger than what the client buffers');
	is($err, '', 'no connection reset while reading');
	is(length($body // ''), $length // -1, 'the whole body arrived (Content-Length bytes)');
}

# --- port 0 again: closed ------------------------------------------------------
set_conf($node, metrics_port => 0);
ok(wait_serving($port3, 0), 'metrics_port = 0 on reload closes the endpoint');
is_deeply([ listening_ports_of($gov) ], [], 'and the governor listens on no port');

# --- a hot standby serves its own metrics -------------------------------------
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('endpoint_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
my $sport = PostgreSQL::Test::Cluster::get_free_port();
# ALTER SYSTEM on the primary set poolgov.metrics_port = 0 in the copied
# postgresql.auto.conf, which wins over postgresql.conf.
$standby->append_conf('postgresql.auto.conf', "poolgov.metrics_port = $sport");
$standby->start;
ok(wait_serving($sport, 1), 'a hot standby serves /metrics');
($st, $h, $body) = get_metrics($sport);
like($body, qr/^pg_poolgov_max_connections \d+$/m, 'the standby exposition');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'it is a standby');

$standby->stop;

# --- without poolgov.database the endpoint still serves ------------------------
# The endpoint reads shared memory only: the governor that could not connect
# to a missing database (it then samples connected to the shared catalogs
# only; test/t/009_governor_database.pl) serves too.
my $port4 = PostgreSQL::Test::Cluster::get_free_port();
$node->safe_psql('postgres', "ALTER SYSTEM SET poolgov.database = 'nosuchdb'");
$node->safe_psql('postgres', "ALTER SYSTEM SET poolgov.metrics_port = $port4");
$node->restart;
ok(wait_serving($port4, 1), 'with poolgov.database missing, the endpoint serves');
($st, $h, $body) = get_metrics($port4);
like($body, qr/^pg_poolgov_max_connections \d+$/m, 'the exposition, without a database');
like(slurp_file($node->logfile), qr/database "nosuchdb" named by poolgov\.database does not exist/,
	'(the governor runs without its database)');

$node->stop;
done_testing();
