# Pause, drain, resume (poolgov.pause / poolgov.resume, issue 20 part 1).
#
# What it is for, shown with load: two roles run pgbench at once over TCP
# loopback; poolgov.pause(role => 'batch') stops batch's new transactions
# within about one transaction time with zero pgbench errors, and app's
# throughput is measured before and during the pause. Then: a drain that an
# idle-in-transaction session holds up returns after `wait` and names it;
# a held waiter's admission timeout (53000, the scope in the DETAIL,
# nothing of its transaction commits); lock safety (a held waiter someone
# waits a lock for is let in); resume lets the waiters in oldest first;
# poolgov.pause_timeout lifts a forgotten pause with a WARNING; the pausing
# session and superusers are never held; a restart clears every pause.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('pause', max_connections => 40, conf => q{
listen_addresses = '127.0.0.1'
deadlock_timeout = 1s
});
$node->safe_psql('postgres', q{
	CREATE ROLE batch LOGIN;
	CREATE ROLE app LOGIN;
	CREATE ROLE batch_member LOGIN IN ROLE batch;
	CREATE ROLE padmin LOGIN IN ROLE poolgov_admin, batch;
	CREATE TABLE bt (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
	CREATE TABLE at (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
	INSERT INTO bt SELECT g FROM generate_series(1, 10) g;
	INSERT INTO at SELECT g FROM generate_series(1, 10) g;
	CREATE TABLE tt (v int);
	CREATE TABLE ord (id serial PRIMARY KEY, name text);
	GRANT ALL ON bt, at, tt, ord, ord_id_seq TO PUBLIC;
});

sub set_conf
{
	my ($conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	usleep(300_000);
}

sub wait_for
{
	my ($sql, $secs) = @_;
	return $node->poll_query_until('postgres', $sql) if !defined $secs;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		usleep(50_000);
	}
	return 0;
}

sub send_nb
{
	my ($s, $sql) = @_;
	$s->{stdout} = '';
	$s->{stderr} = '';
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb;
}

sub paused_count
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM poolgov.connections WHERE admission = 'paused'});
}

# --- 1. Two roles under pgbench; pause batch; app keeps going. -----------
my $dir = $node->basedir;
append_to_file("$dir/batch.sql", <<'EOF');
BEGIN;
UPDATE bt SET n = n + 1 WHERE id = :client_id + 1;
SELECT sum(g) FROM generate_series(1, 20000) g;
SELECT pg_sleep(0.02);
END;
EOF
append_to_file("$dir/app.sql", <<'EOF');
BEGIN;
UPDATE at SET n = n + 1 WHERE id = :client_id + 1;
SELECT sum(g) FROM generate_series(1, 2000) g;
END;
EOF

my $duration = 12;
my %bench;
for my $role ('batch', 'app')
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-h', '127.0.0.1', '-p', $node->port, '-U', $role,
			'-c', '3', '-j', '1', '-T', $duration, '-f', "$dir/$role.sql",
			'-l', "--log-prefix=$dir/log_$role", 'postgres' ],
		'>', \$out, '2>', \$err);
	$bench{$role} = { h => $h, out => \$out, err => \$err };
}
my $server_now = sub {
	return $node->safe_psql('postgres', q{SELECT extract(epoch FROM clock_timestamp())});
};
my $t_start = $server_now->();
usleep(4_000_000);

# The drain, timed by the server around the call.
my $drain = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM clock_timestamp());
	SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '10 s');
	SELECT extract(epoch FROM clock_timestamp());});
my ($t_pause0, $left, $t_pause1) = split /\n/, $drain;
is($left, '0', 'the drain ended with no batch transaction running');
ok(wait_for(q{SELECT count(*) = 3 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	'the three batch clients wait, held by the pause');
is($node->safe_psql('postgres', q{SELECT scope || ' ' || waiting FROM poolgov.pauses}),
	'role "batch" 3', 'poolgov.pauses: the scope and its three waiters');
usleep(3_500_000);
my $t_resume = $server_now->();
is($node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')}), 't', 'resumed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pauses}), '0', 'no pause left');

for my $role ('batch', 'app')
{
	$bench{$role}{h}->finish;
	is($? >> 8, 0, "pgbench as $role exited 0");
	my $err = ${ $bench{$role}{err} };
	unlike($err, qr/error|abort/i, "no pgbench error as $role");
	like(${ $bench{$role}{out} }, qr/number of transactions actually processed: \d+/,
		"pgbench as $role reported its transactions");
}

# Transaction completions (epoch seconds) and latencies (s) from the logs.
sub completions
{
	my ($role) = @_;
	my (@at, @lat);
	for my $f (glob("$dir/log_$role.*"))
	{
		open my $fh, '<', $f or die "$f: $!";
		while (<$fh>)
		{
			my ($client, $tx, $us, $script, $epoch, $frac) = split;
			push @at, $epoch + $frac / 1e6;
			push @lat, $us / 1e6;
		}
		close $fh;
	}
	return (\@at, \@lat);
}
my ($batch_at, $batch_lat) = completions('batch');
my ($app_at) = completions('app');
my @base_lat = map { $batch_lat->[$_] } grep { $batch_at->[$_] < $t_pause0 } 0 .. $#$batch_at;
my $max_lat = (sort { $b <=> $a } @base_lat)[0] // 0;
my $drain_s = $t_pause1 - $t_pause0;
my $during = grep { $_ > $t_pause1 + 0.05 && $_ < $t_resume } @$batch_at;
my $after = grep { $_ > $t_resume } @$batch_at;
ok(@base_lat > 20, 'batch ran before the pause (' . scalar(@base_lat) . ' transactions)');
is($during, 0, 'no batch transaction completed while paused');
ok($after > 0, "batch ran again after the resume ($after transactions)");
ok($drain_s <= $max_lat + 0.2,
	sprintf('the drain took %.3f s, within one batch transaction (longest %.3f s)',
		$drain_s, $max_lat));
# app's throughput: before (from 1 s after the start) and during the pause
# (from 0.5 s after it took hold).
my ($b0, $b1) = ($t_start + 1, $t_pause0);
my ($p0, $p1) = ($t_pause1 + 0.5, $t_resume);
my $before_tps = (grep { $_ >= $b0 && $_ < $b1 } @$app_at) / ($b1 - $b0);
my $paused_tps = (grep { $_ >= $p0 && $_ < $p1 } @$app_at) / ($p1 - $p0);
my $change = $before_tps > 0 ? 100 * ($paused_tps / $before_tps - 1) : 0;
diag(sprintf('app throughput: %.0f tps before, %.0f tps while batch was paused (%+.1f %%); '
	  . 'drain %.1f ms; longest batch transaction %.1f ms',
	$before_tps, $paused_tps, $change, 1000 * $drain_s, 1000 * $max_lat));
# The figure is reported, not bounded: on the shared 2-core build machine
# two such windows differ by -69 % to +30 % with nothing paused at all
# (docs/operations.md). What a pause must never do to the other role is
# stop it: app completed transactions in every 250 ms of the pause.
my $stalls = 0;
for (my $w = $t_pause1; $w + 0.25 <= $t_resume; $w += 0.25)
{
	$stalls++ unless grep { $_ >= $w && $_ < $w + 0.25 } @$app_at;
}
is($stalls, 0, "app ran throughout the pause ($change % throughput)");

# --- 2. A drain held up by a session idle in its transaction. ------------
my $idle = session($node, user => 'batch');
$idle->query_safe('BEGIN');
$idle->query_safe('UPDATE bt SET n = n + 1 WHERE id = 9');
my $idle_pid = $idle->query_safe('SELECT pg_backend_pid()');
my $t0 = time;
my $rows = $node->safe_psql('postgres',
	q{SELECT pid || ' ' || usename || ' ' || state FROM poolgov.pause(role => 'batch', wait => '1.5 s')});
my $took = time - $t0;
is($rows, "$idle_pid batch idle in transaction",
	'the drain names the session idle in its transaction');
ok($took >= 1.5 && $took < 5, sprintf('and returned after wait (%.2f s)', $took));
# Its transaction started before the pause: it runs on to its end.
is($idle->query_safe('SELECT 41 + 1'), '42', 'the transaction begun before the pause goes on');
$idle->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')}),
	'0', 'once it committed, the scope is drained');
# Its next transaction is held.
send_nb($idle, 'SELECT 7;');
ok(wait_for(q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	'its next transaction is held');
# A member of batch is held too; app is not; superusers never are.
my $member = session($node, user => 'batch_member');
send_nb($member, 'SELECT 8;');
ok(wait_for(q{SELECT count(*) = 2 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	'a member of the paused role is held');
is($node->safe_psql('postgres', 'SELECT 1', extra_params => [ '-U', 'app' ]), '1',
	'another role runs');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'a superuser runs');
is($node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')}), 't', 'resumed');
ok(session_output($idle, qr/^7$/m, 10) && session_output($member, qr/^8$/m, 10),
	'the held transactions ran after the resume');

# --- 3. The pausing session itself is never held (a non-superuser admin
# who is a member of the paused role). ------------------------------------
my $padmin = session($node, user => 'padmin');
is($padmin->query_safe(q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')}), '0',
	'padmin paused batch');
is($padmin->query_safe('SELECT 5'), '5', 'its own session is not held');
my $padmin2 = session($node, user => 'padmin');
# (Not a catalog-only SELECT: an admin's rescue statements never wait.)
send_nb($padmin2, 'SELECT count(*) + 6 FROM bt WHERE false;');
ok(wait_for(q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	"its other session is held");
is($padmin->query_safe(q{SELECT poolgov.resume(role => 'batch')}), 't', 'padmin resumed');
ok(session_output($padmin2, qr/^6$/m, 10), 'and the other session ran');

# --- 4. A held waiter times out: 53000 naming the paused scope, and
# nothing of its transaction commits. -------------------------------------
set_conf("poolgov.admission_timeout = 1500ms");
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')});
my ($rc, $out, $err) = $node->psql('postgres', 'INSERT INTO tt VALUES (1)',
	extra_params => [ '-U', 'batch' ]);
like($err, qr/admission timeout.*\n.*DETAIL:.*role "batch" is paused/,
	'a held statement times out with 53000, and the DETAIL names the paused scope');
($rc, $out, $err) = $node->psql('postgres', "BEGIN;\nINSERT INTO tt VALUES (2);\nCOMMIT;",
	extra_params => [ '-U', 'batch', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  53000: pg_poolgov admission timeout/, 'in a block too (53000)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM tt'), '0',
	'nothing of the timed-out transactions committed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.events
		WHERE kind = 'admission_timeout' AND detail LIKE '%role "batch" is paused%'}), '2',
	'both timeouts are events that name the pause');
set_conf("poolgov.admission_timeout = 30s");

# --- 5. Lock safety: a held waiter that another backend waits a lock for
# is let in past the pause. -----------------------------------------------
my $holder = session($node, user => 'batch');
$node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')});
$holder->query_safe('SELECT pg_advisory_lock(42)');
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')});
send_nb($holder, q{SELECT 'holder ran';});
ok(wait_for(q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	'the lock holder is held');
my $waiter = session($node, user => 'app');
send_nb($waiter, q{SELECT pg_advisory_lock(42), 'waiter got it';});
ok(session_output($holder, qr/holder ran/, 10),
	'the held lock holder was let in once app waited for its lock');
like($node->safe_psql('postgres', q{SELECT detail FROM poolgov.events
		WHERE kind = 'admission_overdraft' ORDER BY at DESC LIMIT 1}),
	qr/admitted past a pause after \d+ ms/, 'an admission_overdraft event says why');
like($node->safe_psql('postgres', q{SELECT poolgov.metrics()}),
	qr/^pg_poolgov_pause_lock_admits_total 1$/m, 'counted in pg_poolgov_pause_lock_admits_total');
ok(slurp_file($node->logfile) =~ /transaction admitted past a pause/, 'and logged');
$holder->query_safe('SELECT pg_advisory_unlock(42)');
ok(session_output($waiter, qr/waiter got it/, 10), 'app got the lock');
$node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')});
$waiter->query_safe('SELECT pg_advisory_unlock_all()');

# --- 5b. DDL under a pause: the held transactions of the paused role took
# their table locks when their first statement was parsed, before the gate;
# an ALTER TABLE of that table waits for them, and they are let in past the
# pause after deadlock_timeout (1 s here), run, and the DDL follows.
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')});
my @ddl_held;
for my $i (1, 2)
{
	my $s = session($node, user => 'batch');
	send_nb($s, "BEGIN; UPDATE bt SET n = n + 1 WHERE id = $i; COMMIT;");
	ok(wait_for("SELECT count(*) = $i FROM poolgov.connections WHERE admission = 'paused'", 10),
		"held transaction $i (it holds a lock on bt)");
	push @ddl_held, $s;
}
my $admits0 = $node->safe_psql('postgres',
	q{SELECT count(*) FROM poolgov.events WHERE kind = 'admission_overdraft'});
my $ddl = $node->safe_psql('postgres', q{
	SET lock_timeout = '10s';
	SELECT extract(epoch FROM clock_timestamp());
	ALTER TABLE bt ADD COLUMN ddl_during_pause int;
	SELECT extract(epoch FROM clock_timestamp());});
my ($ddl0, $ddl1) = split /\n/, $ddl;
my $ddl_s = $ddl1 - $ddl0;
diag(sprintf('ALTER TABLE of a paused role\'s table with 2 held transactions: %.3f s '
	  . '(deadlock_timeout 1 s)', $ddl_s));
# A held waiter looks for lock waiters once per deadlock_timeout: the DDL
# waits up to that, plus the held transactions themselves.
ok($ddl_s < 5, sprintf('the DDL waited for the held lock holders, then ran (%.2f s)', $ddl_s));
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM poolgov.events WHERE kind = 'admission_overdraft'}) - $admits0, 2,
	'both held lock holders were let in past the pause');
$node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')});
$_->quit for @ddl_held;

# --- 6. Resume lets the waiters in oldest first (one slot at a time). ----
set_conf("poolgov.max_active_transactions = 1");
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')});
my @ordered;
for my $name ('a', 'b', 'c')
{
	my $s = session($node, user => 'batch');
	send_nb($s, "BEGIN; INSERT INTO ord (name) VALUES ('$name'); SELECT pg_sleep(0.2); COMMIT;");
	my $n = scalar(@ordered) + 1;
	ok(wait_for("SELECT count(*) = $n FROM poolgov.connections WHERE admission = 'paused'", 10),
		"waiter $name is held");
	push @ordered, $s;
}
$node->safe_psql('postgres', q{SELECT poolgov.resume(role => 'batch')});
ok(wait_for(q{SELECT count(*) = 3 FROM ord}, 10), 'the three ran after the resume');
is($node->safe_psql('postgres', q{SELECT string_agg(name, '' ORDER BY id) FROM ord}), 'abc',
	'in the order they queued');
set_conf("poolgov.max_active_transactions = 0");

# --- 7. pause_timeout lifts a forgotten pause, with a WARNING. -----------
set_conf("poolgov.pause_timeout = 2s");
my $log_pos = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(role => 'batch', wait => '0')});
my $late = session($node, user => 'batch');
send_nb($late, 'SELECT 9;');
ok(wait_for(q{SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'paused'}, 10),
	'held by a pause nobody resumes');
# The governor lifts it within a sample (100 ms) of the timeout; waiters
# themselves only 5 s later (a backstop without governor): 4 s tells.
ok(session_output($late, qr/^9$/m, 4), 'let in when pause_timeout lifted the pause');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pauses}), '0', 'no pause left');
like(substr(slurp_file($node->logfile), $log_pos),
	qr/WARNING:  pg_poolgov: the pause of role "batch" was lifted by poolgov.pause_timeout/,
	'a WARNING in the log says so');
like($node->safe_psql('postgres', q{SELECT detail FROM poolgov.events
		WHERE kind = 'resume' ORDER BY at DESC LIMIT 1}),
	qr/lifted by poolgov.pause_timeout/, 'and a resume event');
set_conf("poolgov.pause_timeout = 10min");

# --- 8. A pause does not outlive the server. ------------------------------
$node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pause(wait => '0')});
is($node->safe_psql('postgres', q{SELECT scope FROM poolgov.pauses}), 'every session',
	'everything paused');
$_->quit for ($idle, $member, $padmin, $padmin2, $holder, $waiter, $late, @ordered);
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.pauses}), '0',
	'no pause after a restart');
is($node->safe_psql('postgres', 'SELECT 3', extra_params => [ '-U', 'batch' ]), '3',
	'batch runs after the restart');

$node->stop;
done_testing();
