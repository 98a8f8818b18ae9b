# Admission control must never change what a client's transactions commit,
# and must obey a reload at once: the ways a wait ends (cancel, terminate,
# idle_session_timeout, a lowered admission_timeout) at a block's first
# statement; a reload while sessions wait (off, raised, lowered, exempt
# superusers, heavy lane off); savepoints and the heavy lane; operators'
# rescue statements on a saturated server; a DEFERRABLE transaction's wait
# for a safe snapshot. (Orderings whose waits end by themselves are in
# specs/, run by the isolation tester; it cannot see a session queued here.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('trust', conf => q{
poolgov.max_active_transactions = 1
poolgov.admission_timeout = 30s
poolgov.admission_idle_timeout = 0
deadlock_timeout = 200ms
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE dba LOGIN;
	GRANT poolgov_admin TO dba;
	CREATE TABLE t (id int PRIMARY KEY, v int);
	INSERT INTO t SELECT g, 0 FROM generate_series(1, 4) g;
	GRANT ALL ON t TO app, dba;
});

# Appends settings and reloads; waits until pg_poolgov published them (the
# governor reloads within milliseconds; backends at their next command).
sub set_conf
{
	my ($conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	usleep(300_000);
}

sub count_admission
{
	my ($states) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM poolgov.connections WHERE admission IN ($states)");
}

sub values_of_t
{
	return $node->safe_psql('postgres', 'SELECT string_agg(v::text, \',\' ORDER BY id) FROM t');
}

# Sends SQL to a background session without waiting for its result.
sub send_sql
{
	my ($s, $sql) = @_;
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb;
}

# Waits until the session's stdout or stderr matches.
sub wait_output
{
	my ($s, $re) = @_;
	my $t0 = time;
	$s->{run}->pump_nb until ($s->{stdout} =~ $re || $s->{stderr} =~ $re) || time - $t0 > 30;
	return ($s->{stdout} =~ $re || $s->{stderr} =~ $re) ? 1 : 0;
}

sub clear_output
{
	my ($s) = @_;
	$s->{stdout} = '';
	$s->{stderr} = '';
}

my $holder = session($node, user => 'app');

# --- A cancelled or terminated wait at the block's first statement: the
# block is aborted (or the session gone); nothing of it commits.
for my $how ('cancel', 'terminate')
{
	my $client = session($node, user => 'app');
	my $pid = $client->query_safe('SELECT pg_backend_pid()');    # (a statement: before the slot is taken)
	$holder->query_safe('BEGIN; SELECT 1;');
	send_sql($client, "BEGIN;\nUPDATE t SET v = 100 WHERE id = 1;");
	ok($node->poll_query_until('postgres',
		"SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $pid"),
		"$how: the block's first statement waits (BEGIN did not)");
	$node->safe_psql('postgres',
		$how eq 'cancel' ? "SELECT pg_cancel_backend($pid)" : "SELECT pg_terminate_backend($pid)");
	if ($how eq 'cancel')
	{
		ok(wait_output($client, qr/canceling statement due to user request/), 'cancel: the wait ended');
	}
	else
	{
		ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
			'terminate: the session ended');
	}
	$holder->query_safe('COMMIT');
	if ($how eq 'cancel')
	{
		clear_output($client);
		send_sql($client, "UPDATE t SET v = 100 WHERE id = 2;\nROLLBACK;\nSELECT 'after';");
		ok(wait_output($client, qr/after/), 'cancel: the client went on');
		like($client->{stderr}, qr/current transaction is aborted/,
			'cancel: the block\'s next statement fails instead of committing alone');
		$client->quit;
	}
	else
	{
		$client->{run}->kill_kill;
	}
	is(values_of_t(), '0,0,0,0', "$how: nothing of the block was committed");
	is(count_admission(q{'running', 'queued', 'queued_heavy', 'heavy', 'overdraft'}), '0',
		"$how: no slot and no place in the queue left behind");
}

# idle_session_timeout does not end a wait (only idleness outside a
# transaction), and the block goes on as the client wrote it.
{
	my $client = session($node, user => 'app');
	my $pid = $client->query_safe("SET idle_session_timeout = '200ms'; SELECT pg_backend_pid()");
	$holder->query_safe('BEGIN; SELECT 1;');
	send_sql($client, "BEGIN;\nUPDATE t SET v = 100 WHERE id = 1;");
	ok($node->poll_query_until('postgres',
		"SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $pid"), 'idle_session_timeout: queued');
	usleep(600_000);
	$holder->query_safe('COMMIT');
	send_sql($client, "UPDATE t SET v = 100 WHERE id = 2;\nROLLBACK;\nSELECT 'rolled back';");
	ok(wait_output($client, qr/rolled back/), 'idle_session_timeout did not end the waiting session');
	is(values_of_t(), '0,0,0,0', 'idle_session_timeout: the block rolled back as a whole');
	$client->quit;
}

# --- A reload reaches the sessions already waiting.
sub start_waiters
{
	my ($n) = @_;
	my @w;
	for my $id (1 .. $n)
	{
		my $s = session($node, user => 'app');
		send_sql($s, "UPDATE t SET v = v + 1 WHERE id = $id;\nSELECT 'done $id';");
		push @w, $s;
	}
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = $n FROM poolgov.connections WHERE admission = 'queued'"), "$n waiters queued");
	return @w;
}

for my $case ([ 'off', 'poolgov.max_active_transactions = 0' ],
	[ 'raised', 'poolgov.max_active_transactions = 10' ])
{
	my ($name, $conf) = @$case;
	$node->safe_psql('postgres', 'UPDATE t SET v = 0');
	$holder->query_safe('BEGIN; SELECT 1;');
	my @w = start_waiters(3);
	my $t0 = time;
	set_conf($conf);
	ok($node->poll_query_until('postgres', q{SELECT string_agg(v::text, ',' ORDER BY id) = '1,1,1,0' FROM t}),
		"$name: the three waiters ran while the holder still holds its slot");
	cmp_ok(time - $t0, '<', 3, "$name: at once, not at the holder's commit");
	is(count_admission(q{'queued'}), '0', "$name: nobody left queued");
	$holder->query_safe('COMMIT');
	$_->quit for @w;
	set_conf('poolgov.max_active_transactions = 1');
}

# Lowered 4 -> 1 with four running and two waiting: nobody is admitted until
# fewer than one run; then one at a time.
{
	set_conf('poolgov.max_active_transactions = 4');
	$node->safe_psql('postgres', 'UPDATE t SET v = 0');
	my @h = map { session($node, user => 'app') } 1 .. 4;
	$_->query_safe('BEGIN; SELECT 1;') for @h;
	my @w = start_waiters(2);
	set_conf('poolgov.max_active_transactions = 1');
	for my $i (0 .. 2)
	{
		$h[$i]->query_safe('COMMIT');
		usleep(300_000);
		is(count_admission(q{'queued'}), '2', 'lowered: a commit above the new limit admits nobody (' . ($i + 1) . ')');
	}
	is(count_admission(q{'running'}), '1', 'lowered: one still running');
	$h[3]->query_safe('COMMIT');
	ok($node->poll_query_until('postgres', q{SELECT string_agg(v::text, ',' ORDER BY id) = '1,1,0,0' FROM t}),
		'lowered: the waiters ran once running fell under the new limit');
	$_->quit for @h, @w;
}

# A lowered admission_timeout ends a wait under way, and says the limit in
# force.
{
	$holder->query_safe('BEGIN; SELECT 1;');
	my $client = session($node, user => 'app');
	send_sql($client, "\\set VERBOSITY verbose\nSELECT count(*) FROM t;");
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
		'timeout lowered: one waits (30 s timeout)');
	my $t0 = time;
	set_conf('poolgov.admission_timeout = 500ms');
	ok(wait_output($client, qr/admission timeout/), 'timeout lowered: the waiter timed out');
	cmp_ok(time - $t0, '<', 5, 'timeout lowered: within seconds, not 30');
	like($client->{stderr}, qr/53000.*no transaction slot within 500 ms/s, 'timeout lowered: the new timeout, 53000');
	like($client->{stderr}, qr/poolgov.max_active_transactions = 1\./, 'timeout lowered: the limit in force');
	$client->quit;
	$holder->query_safe('COMMIT');
	set_conf('poolgov.admission_timeout = 30s');
}

# Superusers exempted while one waits: it runs at once.
{
	set_conf('poolgov.exempt_superusers = off');
	$holder->query_safe('BEGIN; SELECT 1;');
	my $su = session($node);
	send_sql($su, "UPDATE t SET v = 7 WHERE id = 4;\nSELECT 'su done';");
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
		'exempt_superusers off: a superuser waits');
	set_conf('poolgov.exempt_superusers = on');
	ok(wait_output($su, qr/su done/), 'exempt_superusers on: the waiting superuser ran');
	is(count_admission(q{'queued'}), '0', 'exempt_superusers on: nobody queued');
	$holder->query_safe('COMMIT');
	$su->quit;
}

# --- Heavy lane and savepoints (limit 4, one heavy slot).
set_conf("poolgov.max_active_transactions = 4\npoolgov.max_heavy_transactions = 1\npoolgov.heavy_cost = 10000");
my $heavy = q{SELECT count(*) FROM generate_series(1, 1000000) g WHERE g < 0};    # cost ~13,000
{
	my $h1 = session($node, user => 'app');
	my $h2 = session($node, user => 'app');
	my $pid2 = $h2->query_safe('SELECT pg_backend_pid()');
	$h1->query_safe("BEGIN; $heavy;");
	is(count_admission(q{'heavy'}), '1', 'heavy: h1 holds the heavy slot');
	$h2->query_safe('BEGIN; SELECT 1; SAVEPOINT s;');
	$h2->query("SET LOCAL statement_timeout = '300ms'; $heavy;");
	like($h2->{stderr}, qr/statement timeout/, 'heavy: h2 timed out waiting for the lane inside a savepoint');
	is($node->safe_psql('postgres', "SELECT admission FROM poolgov.connections WHERE pid = $pid2"),
		'none', 'heavy: the aborted savepoint left the lane\'s queue (and the block holds no slot)');
	is($node->safe_psql('postgres', 'SELECT admission_queued FROM poolgov.stats'), '0',
		'heavy: stats counts nobody queued');
	clear_output($h2);
	$h2->query_safe('ROLLBACK TO SAVEPOINT s');
	send_sql($h2, "$heavy;\nSELECT 'h2 heavy done';");
	# (It holds no slot since the aborted savepoint, so it waits for both.)
	ok($node->poll_query_until('postgres', "SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $pid2"),
		'heavy: after ROLLBACK TO, h2 waits for the lane again (it does not run past h1)');
	my $idle = session($node, user => 'app');
	$idle->query_safe('BEGIN; SELECT 1;');
	$h1->query_safe('COMMIT');
	ok(wait_output($h2, qr/h2 heavy done/), 'heavy: the lane went to the waiting h2');
	is($node->safe_psql('postgres', "SELECT admission FROM poolgov.connections WHERE pid = $pid2"),
		'heavy', 'heavy: h2 holds the heavy slot, not the idle session');
	$h2->query_safe('COMMIT');
	$idle->query_safe('COMMIT');
	$_->quit for $h1, $h2, $idle;
}

# The lane switched off while a heavy statement waits for it: it runs.
{
	my $h1 = session($node, user => 'app');
	$h1->query_safe("BEGIN; $heavy;");
	my $h2 = session($node, user => 'app');
	send_sql($h2, "$heavy;\nSELECT 'h2 ran';");
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission IN ('queued', 'queued_heavy')}),
		'lane off: a heavy statement waits');
	set_conf('poolgov.max_heavy_transactions = 0');
	ok(wait_output($h2, qr/h2 ran/), 'lane off: the waiting heavy statement ran at once');
	$h1->query_safe('COMMIT');
	$_->quit for $h1, $h2;
}
set_conf("poolgov.max_active_transactions = 1");

# --- Operators' rescue statements never wait (superusers not exempt here).
set_conf("poolgov.exempt_superusers = off\npoolgov.admission_timeout = 1s");
{
	my $victim = session($node, user => 'app');
	my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
	$holder->query_safe('BEGIN; SELECT 1;');
	my %rescue = (
		'pg_reload_conf()' => 'SELECT pg_reload_conf()',
		'poolgov.connections' => 'SELECT count(*) >= 2 FROM poolgov.connections',
		'poolgov.stats' => 'SELECT admission_running FROM poolgov.stats',
		'pg_stat_activity' => "SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'idle in transaction'",
		'pg_terminate_backend()' =>
		  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $vpid",
	);
	for my $what (sort keys %rescue)
	{
		my ($rc, $out, $err) = $node->psql('postgres', $rescue{$what});
		is($rc . ($err =~ /admission timeout/ ? ' timeout' : ''), '0', "rescue: a superuser's $what runs on a full server");
	}
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM poolgov.connections',
		extra_params => [ '-U', 'dba' ]);
	is($rc, 0, 'rescue: a poolgov_admin member reads poolgov.connections on a full server');
	($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM poolgov.connections',
		extra_params => [ '-U', 'app' ]);
	like($err, qr/admission timeout/, 'rescue: a plain role waits like any transaction');
	($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM t');
	like($err, qr/admission timeout/, 'rescue: a superuser reading a user table waits');
	($rc, $out, $err) = $node->psql('postgres', 'UPDATE t SET v = v');
	like($err, qr/admission timeout/, 'rescue: a superuser writing waits');
	$holder->query_safe('COMMIT');
	$victim->{run}->kill_kill;
}
set_conf("poolgov.exempt_superusers = on\npoolgov.admission_timeout = 30s");

# --- A SERIALIZABLE READ ONLY DEFERRABLE block (made so by SET TRANSACTION)
# whose first statement is a utility command (LOCK TABLE) takes no slot
# before it has its snapshot: its wait for a
# safe snapshot (for the serializable transaction Q) cannot hold the slot Q
# needs.
{
	$node->safe_psql('postgres', 'UPDATE t SET v = 0');
	my $r = session($node, user => 'app');
	my $q = session($node, user => 'app');
	$r->query_safe("BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE;
		LOCK TABLE t IN ACCESS SHARE MODE;");
	$q->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE; UPDATE t SET v = 1 WHERE id = 1;');
	send_sql($r, "SELECT 'r sum ' || sum(v) FROM t;");
	ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'SafeSnapshot' FROM pg_stat_activity a JOIN poolgov.connections c USING (pid)
		 WHERE c.role = 'app' AND a.query LIKE '%r sum%'}),
		'deferrable: R waits for a safe snapshot, holding no slot');
	my ($rc) = $q->query('COMMIT');
	is($q->{stderr}, '', 'deferrable: Q commits (it was not queued behind R)');
	ok(wait_output($r, qr/r sum [01]/), 'deferrable: R then ran with a safe snapshot');
	$r->query_safe('COMMIT');
	$_->quit for $r, $q;
}

# --- A waiter cancelled just as its grant arrives passes the slot on. The
# race is made certain: W1 is stopped (SIGSTOP) while the holder's commit
# hands it the slot and the cancel arrives; resumed, it finds both, the
# cancel wins, and its abort must give the granted slot to W2.
{
	$node->safe_psql('postgres', 'UPDATE t SET v = 0');
	my $w1 = session($node, user => 'app');
	my $w2 = session($node, user => 'app');
	my $pid1 = $w1->query_safe('SELECT pg_backend_pid()');
	$w2->query_safe('SELECT 1');
	$holder->query_safe('BEGIN; SELECT 1;');
	send_sql($w1, "UPDATE t SET v = 1 WHERE id = 1;");
	ok($node->poll_query_until('postgres', "SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $pid1"),
		'race: W1 queued');
	send_sql($w2, "UPDATE t SET v = 2 WHERE id = 2;\nSELECT 'w2 done';");
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM poolgov.connections WHERE admission = 'queued'}),
		'race: W2 queued behind it');
	kill 'STOP', $pid1;
	$holder->query_safe('COMMIT');
	ok($node->poll_query_until('postgres', "SELECT admission = 'running' FROM poolgov.connections WHERE pid = $pid1"),
		'race: the slot was handed to the stopped W1');
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid1)");
	kill 'CONT', $pid1;
	ok(wait_output($w1, qr/canceling statement due to user request/), 'race: W1 got the cancel, not the slot');
	ok(wait_output($w2, qr/w2 done/), 'race: W2 got the slot W1 was granted');
	is(values_of_t(), '0,2,0,0', "race: W1's update did not run, W2's did");
	ok($node->poll_query_until('postgres', q{
		SELECT admission_running = 0 AND admission_queued = 0 FROM poolgov.stats}),
		'race: no slot left behind');
	$_->quit for $w1, $w2;
}

# --- Extended protocol without Sync: Parse/Bind/Execute/Flush leaves the
# implicit transaction open, and PostgreSQL reports the session active, so
# neither admission_idle_timeout nor idle_in_transaction_session_timeout
# applies; the slot goes back at Sync. (A raw protocol client: libpq always
# sends Sync.)
sub pg_message
{
	my ($type, $body) = @_;
	return $type . pack('N', 4 + length $body) . $body;
}

sub read_messages_until
{
	my ($sock, $want) = @_;
	my %seen;
	while (1)
	{
		my $head = '';
		while (length $head < 5)
		{
			my $n = sysread($sock, $head, 5 - length $head, length $head);
			return %seen unless $n;
		}
		my ($type, $len) = unpack('a N', $head);
		my $body = '';
		while (length $body < $len - 4)
		{
			my $n = sysread($sock, $body, $len - 4 - length $body, length $body);
			return %seen unless $n;
		}
		$seen{$type} = $body;
		return %seen if $type eq $want;
	}
}

{
	require IO::Socket::UNIX;
	$node->safe_psql('postgres', 'UPDATE t SET v = 0');
	set_conf("poolgov.admission_idle_timeout = 300ms\nidle_in_transaction_session_timeout = 300ms");
	my $sock = IO::Socket::UNIX->new(Peer => $node->host . '/.s.PGSQL.' . $node->port)
	  or die "cannot connect: $!";
	my $startup = pack('N', 196608) . "user\0app\0database\0postgres\0\0";
	syswrite($sock, pack('N', 4 + length $startup) . $startup);
	my %m = read_messages_until($sock, 'Z');
	my ($pid) = unpack('N', $m{K});
	ok($pid, 'raw client: logged in');
	syswrite($sock, pg_message('P', "\0UPDATE t SET v = 5 WHERE id = 3\0" . pack('n', 0))
		  . pg_message('B', "\0\0" . pack('nnn', 0, 0, 0))
		  . pg_message('E', "\0" . pack('N', 0))
		  . pg_message('H', ''));
	%m = read_messages_until($sock, 'C');
	ok(exists $m{C}, 'raw client: Execute completed without Sync');
	usleep(1_000_000);
	is($node->safe_psql('postgres', "SELECT state || ' ' || admission FROM poolgov.connections WHERE pid = $pid"),
		'active running', 'no Sync: the session is active and keeps its slot past admission_idle_timeout');
	is(values_of_t(), '0,0,0,0', 'no Sync: nothing committed yet');
	syswrite($sock, pg_message('S', ''));
	%m = read_messages_until($sock, 'Z');
	ok(exists $m{Z}, 'raw client: Sync answered');
	is($node->safe_psql('postgres', "SELECT admission FROM poolgov.connections WHERE pid = $pid"),
		'none', 'Sync: the slot went back');
	is(values_of_t(), '0,0,5,0', 'Sync: the implicit transaction committed');
	syswrite($sock, pg_message('X', ''));
	close($sock);
	set_conf("poolgov.admission_idle_timeout = 0\nidle_in_transaction_session_timeout = 0");
}

$holder->quit;
is(count_admission(q{'running', 'queued', 'queued_heavy', 'heavy', 'overdraft'}), '0',
	'nothing running or queued at the end');
$node->stop;
done_testing();
