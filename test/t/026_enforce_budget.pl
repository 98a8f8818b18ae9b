# poolgov.enforce_budget(): a budget's max_connections lowered below the
# sessions it counts is met now by ending the role's idle sessions, the
# longest idle first, never an active session or one in a transaction
# (issue 20, part 4).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('enforce', max_connections => 30);
$node->safe_psql('postgres', q{
	CREATE ROLE grp NOLOGIN;
	CREATE ROLE shrink LOGIN IN ROLE grp;
	CREATE ROLE other LOGIN;
	SELECT poolgov.set_budget('grp', 6);
});

sub alive
{
	my ($pid) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid");
}

# Six sessions of shrink (counted by the budget on its group grp): four
# idle, made idle in the order s1, s2, s3, s6; one active; one idle in a
# transaction. And one of another role, idle longest of all.
my $other = session($node, user => 'other');
my %s;
for my $name (qw(s1 s2 s3 s4 s5 s6))
{
	$s{$name} = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'shrink', '-v', 'VERBOSITY=verbose' ]);
	$s{$name}{pid} = $s{$name}->query_safe('SELECT pg_backend_pid()');
}
for my $name (qw(s1 s2 s3 s6))
{
	$s{$name}->query_safe('SELECT 1');
	usleep(200_000);
}
$s{s5}->query_safe('BEGIN');
$s{s5}->query_safe('SELECT 1');
$s{s4}{stdin} .= "SELECT pg_sleep(60);\n";
$s{s4}{run}->pump_nb;
ok($node->poll_query_until('postgres',
		"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $s{s4}{pid}"),
	's4 is active');

# Lowered to 3: three over. The three longest idle go: s1, s2, s3.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('grp', 3)});
is($node->safe_psql('postgres', q{SELECT poolgov.enforce_budget('grp')}), '3',
	'three sessions ended');
is(alive($s{$_}{pid}), '0', "$_ (idle longest) is gone") for qw(s1 s2 s3);
is(alive($s{$_}{pid}), '1', "$_ stays") for qw(s4 s5 s6);
is(alive($other->query_safe('SELECT pg_backend_pid()')), '1',
	'another role, idle longer than all of them, stays');
# What the ended client reads when it next talks to the server.
$s{s1}{stdin} .= "SELECT 2;\n";
eval { $s{s1}{run}->pump while $s{s1}{stderr} !~ /FATAL.*\n.*\n.*HINT/s && $s{s1}{run}->pumpable };
like($s{s1}{stderr}, qr/FATAL:  57P01: terminating connection: pg_poolgov ended this session after .* idle to bring its role back under its connection budget/,
	'the client learns why (57P01)');
$s{s1}{run}->kill_kill;
like($node->safe_psql('postgres', q{SELECT string_agg(detail, E'\n') FROM poolgov.events
		WHERE kind = 'terminate_idle'}),
	qr/\(poolgov.enforce_budget\(\)\)/, 'each is an event');
is($node->safe_psql('postgres', q{SELECT poolgov.enforce_budget('grp')}), '0',
	'at the budget: nobody more');

# Lowered to 1: two over, one idle session left to end (s6); the active
# one and the one in a transaction stay, and a NOTICE says how far over.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('grp', 1)});
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT poolgov.enforce_budget('grp')});
is($out, '1', 'only the idle session ended');
like($err, qr/NOTICE:  role "grp" is still 1 connections over its budget of 1/,
	'a NOTICE says the budget is still exceeded');
is(alive($s{s6}{pid}), '0', 's6 is gone');
is(alive($s{$_}{pid}), '1', "$_ (active / in a transaction) stays") for qw(s4 s5);

$node->safe_psql('postgres', "SELECT pg_cancel_backend($s{s4}{pid})");
$s{s5}->query_safe('COMMIT');
$node->stop;
done_testing();
