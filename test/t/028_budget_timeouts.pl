# Per-budget timeouts (1.2): a budget's admission_timeout replaces
# poolgov.admission_timeout for the sessions it governs, and its
# idle_in_transaction_timeout ends a session idle in a transaction, with
# admission control off as well as on, with a message that names the
# budget; the most specific rule's value holds.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('timeouts', conf => q{
poolgov.max_active_transactions = 0
poolgov.admission_timeout = 30s
});
$node->safe_psql('postgres', q{
	CREATE ROLE grp;
	CREATE ROLE app LOGIN IN ROLE grp;
	CREATE ROLE other LOGIN;
	SELECT poolgov.set_budget_rule(role => 'grp', idle_in_transaction_timeout => '10 min',
	                               admission_timeout => '10 min');
	SELECT poolgov.set_budget_rule(role => 'app', idle_in_transaction_timeout => '500 ms',
	                               admission_timeout => '400 ms');
});

sub set_conf
{
	my ($conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	usleep(300_000);
}

# --- Idle in transaction, admission control off: ended after 500 ms (the
# role's own rule, more specific than the group's 10 min), message names it.
my $s = session($node, user => 'app');
$s->query_safe('BEGIN; SELECT 1;');
my $t0 = time;
my $gone = 0;
while (time - $t0 < 20)
{
	$gone = $node->safe_psql('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE usename = 'app'}) eq 't';
	last if $gone;
	usleep(50_000);
}
ok($gone, 'the session idle in its transaction is ended (admission control off)');
cmp_ok(time - $t0, '<', 10, 'within the budget timeout, not the group one');
eval { $s->query('SELECT 2') };  # psql finds the connection gone
like($s->{stderr},
	qr/terminating connection due to the idle-in-transaction timeout of its pg_poolgov budget/,
	'the client is told why');
my $log = slurp_file($node->logfile);
like($log, qr/FATAL:  terminating connection due to the idle-in-transaction timeout of its pg_poolgov budget/,
	'the server log says why');
like($log, qr/DETAIL:  The session was idle in a transaction for 500 ms; the budget for role app allows 500 ms/,
	'the detail names the budget and the timeout');
like($node->safe_psql('postgres', q{SELECT string_agg(detail, '; ') FROM poolgov.events
                                     WHERE kind = 'terminate_idle' AND role = 'app'}),
	qr/idle_in_transaction_timeout of the budget for role app/, 'an event names it too');
eval { $s->quit };

# A role without such a budget is not ended; a session busy in a statement
# is not ended either.
my $o = session($node, user => 'other');
$o->query_safe('BEGIN; SELECT 1;');
my $busy = session($node, user => 'app');
$busy->query_safe('BEGIN;');
$busy->query_safe('SELECT pg_sleep(1.5);');
usleep(1_200_000);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'other'}),
	'1', 'a session without a budget timeout stays');
$o->quit;
$busy->quit;

# --- admission_timeout: the budget's 400 ms, not the global 30 s.
set_conf("poolgov.max_active_transactions = 1\n");
my $holder = session($node, user => 'other');
$holder->query_safe('BEGIN; SELECT 1;');
my $waiter = session($node, user => 'app');
$t0 = time;
$waiter->query(q{\set VERBOSITY verbose
SELECT 42;});
my $waited = time - $t0;
like($waiter->{stderr}, qr/53000.*no transaction slot within 400 ms/s,
	'the wait ends after the budget admission_timeout');
like($waiter->{stderr}, qr/the admission_timeout of the budget for role app/,
	'the error names the budget');
cmp_ok($waited, '<', 10, 'not after the global 30 s');
$holder->quit;
$waiter->quit;

$node->stop;
done_testing();
