# A streaming hot standby runs its own governor and reports its own
# connections; budgets reach it through replication; admission control
# queues its read-only transactions as on a primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $primary = poolgov_node('primary', init => { allows_streaming => 1 });
$primary->safe_psql('postgres', 'CREATE ROLE app LOGIN');
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

ok($standby->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'}),
	'the standby runs a governor');
ok($standby->poll_query_until('postgres', 'SELECT count(*) >= 5 FROM poolgov.history'),
	'the standby samples its own history');

# Three sessions on the standby: its own count, not the primary's.
my @sessions = map { session($standby) } 1 .. 3;
my ($s_ours, $s_theirs) = client_counts($standby);
is($s_ours, $s_theirs, 'standby: count equals its pg_stat_activity');
is($s_ours, 4, 'standby: three sessions and the checker');
my ($p_ours) = client_counts($primary);
is($p_ours, 1, 'primary: only the checker');
$_->quit for @sessions;

# Admission control works the same on the standby's read-only
# transactions: with one slot, a second transaction waits for the first.
$standby->append_conf('postgresql.conf', "poolgov.max_active_transactions = 1\n");
$standby->reload;
ok($standby->poll_query_until('postgres', q{SELECT current_setting('poolgov.max_active_transactions') = '1'}),
	'standby: admission control on (one slot)');
my $r1 = session($standby, user => 'app');
my $r2 = session($standby, user => 'app');
my $r2_pid = $r2->query_safe('SELECT pg_backend_pid()');
$r1->query_safe('BEGIN READ ONLY; SELECT count(*) FROM pg_class;');
is($standby->safe_psql('postgres', q{SELECT string_agg(admission, ',' ORDER BY admission DESC) FROM poolgov.connections WHERE role = 'app'}),
	'running,none', 'standby: the first read-only transaction holds the slot');
$r2->{stdin} .= "SELECT 'r2 ran';\n";
$r2->{run}->pump_nb;
ok($standby->poll_query_until('postgres', "SELECT admission = 'queued' FROM poolgov.connections WHERE pid = $r2_pid"),
	'standby: a second read-only transaction waits for it');
$r1->query_safe('COMMIT');
session_output($r2, qr/r2 ran/);
is($r2->{stdout} . $r2->{stderr}, "r2 ran\n", 'standby: and runs once the first commits');
$_->quit for $r1, $r2;
$standby->append_conf('postgresql.conf', "poolgov.max_active_transactions = 0\n");
$standby->reload;
ok($standby->poll_query_until('postgres', q{SELECT count(*) = 0 FROM poolgov.connections WHERE role = 'app'}),
	'standby: both sessions gone');

# A budget set on the primary replicates and the standby's governor applies
# it (the table changes by replay, without triggers).
$primary->safe_psql('postgres', q{SELECT poolgov.set_budget('app', 1)});
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
	q{SELECT max_connections = 1 FROM poolgov.budget_usage WHERE role = 'app'}),
	'the standby loaded the replicated budget');
my $app = session($standby, user => 'app');
$standby->connect_fails($standby->connstr('postgres') . ' user=app',
	'second app login on the standby is refused',
	expected_stderr => qr/too many connections for role "app"/);
$app->quit;
$standby->connect_ok($standby->connstr('postgres') . ' user=app',
	'after the first leaves, app may log in again');

# set_budget on the standby is a read-only error.
my ($rc, $out, $err) = $standby->psql('postgres', q{SELECT poolgov.set_budget('app', 2)});
like($err, qr/read-only transaction/, 'budgets cannot be changed on a standby');

$standby->stop;
$primary->stop;
done_testing();
