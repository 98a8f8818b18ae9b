# Admission control under chaos: 20 sessions run random transactions with
# random errors while backends are cancelled and terminated at random, then
# a backend crash restarts the server. Afterwards nothing is running or
# queued, and exactly max_active_transactions new transactions are admitted
# at once: no slot leaked.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $limit = 3;
my $node = poolgov_node('chaos', conf => qq{
poolgov.max_active_transactions = $limit
poolgov.admission_timeout = 5s
deadlock_timeout = 100ms
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE TABLE t (id int, x int);
	INSERT INTO t SELECT g, 0 FROM generate_series(1, 20) g;
	GRANT ALL ON t TO app;
});

# Each session: 50 transactions of random shape, some failing.
my $script = $node->basedir . '/chaos.sql';
my $sql = "\\set ON_ERROR_STOP 0\n";
for my $i (1 .. 50)
{
	my $k = int(rand(20)) + 1;
	my $shape = int(rand(4));
	$sql .= $shape == 0 ? "SELECT pg_sleep(random() * 0.02), 1 / (random() * 2)::int;\n"
	  : $shape == 1 ? "BEGIN; UPDATE t SET x = x + 1 WHERE id = $k; SELECT pg_sleep(random() * 0.02); COMMIT;\n"
	  : $shape == 2 ? "BEGIN; SELECT count(*) FROM t; SELECT 1 / 0; COMMIT;\n"
	  : "BEGIN; SELECT pg_sleep(random() * 0.01); ROLLBACK;\n";
}
append_to_file($script, $sql);

# Starts the 20 sessions; their stderr goes into @$errs.
sub run_sessions
{
	my ($errs) = @_;
	@$errs = map { '' } 1 .. 20;
	return map {
		IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres') . ' user=app',
			'-f', $script ], '<', \undef, '>', \my $out, '2>', \$errs->[$_])
	} 0 .. 19;
}

sub stat_of
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM poolgov.stats");
}

sub no_leak
{
	my ($when) = @_;
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM poolgov.connections WHERE admission <> 'none'}),
		"$when: nothing running or queued");
	# limit sessions each open a transaction: all must be admitted at once.
	my @s = map { session($node, user => 'app') } 1 .. $limit;
	$_->query_safe('BEGIN; SELECT 1;') for @s;
	is($node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE admission = 'running') || '/' ||
		       count(*) FILTER (WHERE admission = 'queued')
		  FROM poolgov.connections}),
		"$limit/0", "$when: $limit new transactions admitted at once");
	my $extra = session($node, user => 'app');
	$extra->{stdin} .= "SELECT 'extra';\n";
	$extra->{run}->pump_nb;
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM poolgov.connections WHERE admission = 'queued'}),
		"$when: one more waits (the limit still holds)");
	$_->query_safe('COMMIT') for @s;
	session_output($extra, qr/extra/);
	is($extra->{stdout} . $extra->{stderr}, "extra\n", "$when: and runs once a slot is free");
	$_->quit for @s, $extra;
}

# Chaos: cancel and terminate app backends at random for a while, waiters
# (queued) more often than others.
my @errs;
my ($errors0, $waited0) = (stat_of('errors'), stat_of('admission_waited'));
my @runs = run_sessions(\@errs);
my ($cancels, $kills) = (0, 0);
my $until = time + 6;
while (time < $until && grep { $_->pumpable } @runs)
{
	my $pid = $node->safe_psql('postgres', q{
		SELECT pid FROM poolgov.connections WHERE role = 'app'
		 ORDER BY admission = 'queued' AND random() < 0.7 DESC, random() LIMIT 1});
	if ($pid)
	{
		if (rand() < 0.7) { $node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"); $cancels++ }
		else { $node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"); $kills++ }
	}
	usleep(30_000);
}
$_->finish for @runs;
# What the sessions went through, as their clients and pg_poolgov saw it
# (not how often this test sent a signal).
my $cancelled = () = join('', @errs) =~ /canceling statement due to user request/g;
my $terminated = grep { /terminating connection due to administrator command/ } @errs;
note("chaos: $cancels cancels and $kills terminations sent; clients saw $cancelled statements "
	  . "cancelled, $terminated sessions terminated");
cmp_ok($cancelled, '>', 0, "clients saw statements cancelled ($cancelled)");
cmp_ok($terminated, '>', 0, "sessions were terminated under way ($terminated of 20)");
cmp_ok(stat_of('errors') - $errors0, '>=', $cancelled, 'pg_poolgov counted every cancelled statement as an error');
cmp_ok(stat_of('admission_waited') - $waited0, '>', 0, 'transactions waited for a slot during the chaos');
no_leak('after cancels and terminations');

# A crash in the middle: SIGKILL one backend while the others run.
@runs = run_sessions(\@errs);
ok($node->poll_query_until('postgres', q{
	SELECT count(*) >= 3 FROM poolgov.connections WHERE admission IN ('running', 'queued')}),
	'transactions under way');
my $victim = $node->safe_psql('postgres', q{
	SELECT pid FROM poolgov.connections WHERE admission = 'running' LIMIT 1});
kill 'KILL', $victim;
$_->finish for @runs;
ok($node->poll_query_until('postgres', 'SELECT true'), 'server back after the crash restart');
like(slurp_file($node->logfile), qr/terminated by signal 9/, 'it was a crash restart');
no_leak('after the crash restart');

$node->stop;
done_testing();
