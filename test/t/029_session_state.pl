# Transaction pooling in a proxy hands each transaction to whichever server
# connection is free, so session state set by one client stays on the server
# connection, where the next client that borrows it finds it (or the client
# loses it). pg_poolgov's admission control limits the running transactions
# the same way but each client keeps its own backend, so nothing of the
# session moves. Two clients, a pool of one: PgBouncer in transaction mode
# with default_pool_size = 1 against poolgov.max_active_transactions = 1,
# for SET, temporary tables, advisory locks, SQL-level PREPARE, WITH HOLD
# cursors and LISTEN. (Protocol-level prepared statements are not here:
# PgBouncer 1.21 and later keep those, with max_prepared_statements.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PoolgovTest;

my $pgbouncer = (grep { -x "$_/pgbouncer" } split(/:/, "$ENV{PATH}:/usr/sbin"))[0];
plan skip_all => 'pgbouncer is not installed' unless defined $pgbouncer;
plan skip_all => 'pgbouncer refuses to run as root' if $> == 0;
$pgbouncer .= '/pgbouncer';

my $node = poolgov_node('state', conf => q{
poolgov.max_active_transactions = 1
poolgov.admission_idle_timeout = 0
});
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');

# PgBouncer listens on a unix socket beside the node's, on a port of its
# own; a node object that is never initialised gives its sessions the same
# connection helpers as the server's (it has no data directory to stop).
my $bport = $ENV{POOLGOV_TEST_BOUNCER_PORT} // PostgreSQL::Test::Cluster::get_free_port();
my $bdir = PostgreSQL::Test::Utils::tempdir;
my $host = $node->host;
my $nport = $node->port;
open(my $fh, '>', "$bdir/users.txt") or die;
print $fh qq{"app" ""\n};
close $fh;
open($fh, '>', "$bdir/pgbouncer.ini") or die;
print $fh qq{[databases]
postgres = host=$host port=$nport dbname=postgres

[pgbouncer]
listen_port = $bport
unix_socket_dir = $host
auth_type = trust
auth_file = $bdir/users.txt
pool_mode = transaction
default_pool_size = 1
reserve_pool_size = 0
max_client_conn = 10
logfile = $bdir/pgbouncer.log
pidfile = $bdir/pgbouncer.pid
};
close $fh;
system($pgbouncer, '-d', '-q', "$bdir/pgbouncer.ini") == 0 or BAIL_OUT('pgbouncer did not start');
END
{
	if (defined $bdir && open(my $p, '<', "$bdir/pgbouncer.pid"))
	{
		my $pid = <$p>;
		chomp $pid;
		kill 'TERM', $pid if $pid;
	}
}
my $ready = 0;
for (1 .. 100)
{
	$ready = system('pg_isready', '-q', '-h', $host, '-p', $bport, '-d', 'postgres') == 0
	  and last;
	usleep(100_000);
}
ok($ready, 'pgbouncer accepts connections') or BAIL_OUT('pgbouncer is not ready');
my $bouncer = PostgreSQL::Test::Cluster->new('bouncer', port => $bport);

sub admitted
{
	return $node->safe_psql('postgres', 'SELECT admission_admitted FROM poolgov.stats');
}

# Client A sets session state; client B, sharing the pool, looks for it;
# then A looks for its own. Returns what each saw.
sub observe
{
	my ($server) = @_;
	my $a = session($server, user => 'app');
	my $b = session($server, user => 'app');
	my %seen;
	my $q = sub {
		my ($s, $sql) = @_;
		$s->{stderr} = '';    # BackgroundPsql keeps it from query to query
		my $out = $s->query($sql);
		$out .= " ERROR" if $s->{stderr} =~ /ERROR/;
		return $out;
	};

	$q->($a, q{SET work_mem = '1111kB'});
	$q->($b, q{SET work_mem = '2222kB'});
	$seen{set_a} = $q->($a, 'SHOW work_mem');

	$q->($a, q{CREATE TEMP TABLE mine AS SELECT 'A'::text AS who});
	$seen{temp_b} = $q->($b, 'SELECT who FROM mine');
	$seen{temp_a} = $q->($a, 'SELECT who FROM mine');

	$q->($a, 'SELECT pg_advisory_lock(4711)');
	$seen{lock_b} = $q->($b, 'SELECT pg_try_advisory_lock(4711)');

	$q->($a, q{PREPARE mine_q AS SELECT 'A'});
	$seen{prepare_b} = $q->($b, 'EXECUTE mine_q');
	$seen{prepare_a} = $q->($a, 'EXECUTE mine_q');

	$q->($a, q{DECLARE mine_c CURSOR WITH HOLD FOR SELECT 'A' FROM generate_series(1, 3)});
	$seen{cursor_b} = $q->($b, 'FETCH 1 FROM mine_c');
	$seen{cursor_a} = $q->($a, 'FETCH 1 FROM mine_c');

	$q->($a, 'LISTEN mine_ch');
	$q->($b, 'SELECT 1');
	$node->safe_psql('postgres', q{NOTIFY mine_ch, 'for A'});
	usleep(200_000);
	$seen{listen_b} = $q->($b, 'SELECT 2');
	$seen{listen_a} = $q->($a, 'SELECT 3');

	$a->quit;
	$b->quit;
	return \%seen;
}

my $before = admitted();
my $ours = observe($node);
# Utility statements (SET, PREPARE, DECLARE, LISTEN) take no slot; the
# SELECTs and EXECUTEs of the clients do.
cmp_ok(admitted() - $before, '>=', 6, 'the clients ran under pg_poolgov admission control');
my $theirs = observe($bouncer);
note explain { pg_poolgov => $ours, pgbouncer => $theirs };

my $notified = qr/Asynchronous notification "mine_ch" with payload "for A"/;

# pg_poolgov: every client keeps its own session.
is($ours->{set_a}, '1111kB', 'pg_poolgov: SET stays with its client');
like($ours->{temp_b}, qr/ERROR/, "pg_poolgov: another client does not see A's temporary table");
is($ours->{temp_a}, 'A', 'pg_poolgov: A keeps its temporary table');
is($ours->{lock_b}, 'f', "pg_poolgov: A's advisory lock holds against another client");
like($ours->{prepare_b}, qr/ERROR/, "pg_poolgov: another client cannot run A's prepared statement");
is($ours->{prepare_a}, 'A', 'pg_poolgov: A keeps its prepared statement');
like($ours->{cursor_b}, qr/ERROR/, "pg_poolgov: another client cannot fetch from A's cursor");
is($ours->{cursor_a}, 'A', 'pg_poolgov: A keeps its WITH HOLD cursor');
like($ours->{listen_a}, $notified, 'pg_poolgov: A receives the notification it listens for');
unlike($ours->{listen_b}, $notified, 'pg_poolgov: another client does not');

# PgBouncer, transaction mode: the state stays on the server connection
# and reaches the other client, or is lost to its own.
is($theirs->{set_a}, '2222kB', "pgbouncer: A sees B's SET");
is($theirs->{temp_b}, 'A', "pgbouncer: B sees A's temporary table");
is($theirs->{lock_b}, 't', "pgbouncer: B takes A's advisory lock too (same backend)");
is($theirs->{prepare_b}, 'A', "pgbouncer: B runs A's prepared statement");
is($theirs->{cursor_b}, 'A', "pgbouncer: B fetches from A's cursor");
unlike($theirs->{listen_a}, $notified, 'pgbouncer: A does not receive its notification');

done_testing();
