# Helpers shared by the pg_poolgov TAP tests.
package PoolgovTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(poolgov_node session client_counts wait_counts_agree start_psql try_login
  session_output);

# A node that preloads pg_poolgov and samples fast; extension created in
# "postgres" (the governed database).
sub poolgov_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = '@{[ $opts{preload} // 'pg_poolgov' ]}'
poolgov.sample_interval = 100ms
max_connections = @{[ $opts{max_connections} // 120 ]}
log_min_messages = info
restart_after_crash = on
@{[ $opts{conf} // '' ]}
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_poolgov');
	return $node;
}

# An open idle session (BackgroundPsql) as $user on $db.
sub session
{
	my ($node, %opts) = @_;
	my @extra = defined $opts{user} ? ('-U', $opts{user}) : ();
	return $node->background_psql($opts{db} // 'postgres',
		extra_params => \@extra, on_error_stop => 0);
}

# (poolgov.stats.connections, client backends in pg_stat_activity,
#  rows of poolgov.connections) in one snapshot.
sub client_counts
{
	my ($node) = @_;
	my $r = $node->safe_psql('postgres', q{
		SELECT (SELECT connections FROM poolgov.stats),
		       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
		       (SELECT count(*) FROM poolgov.connections)});
	return split /\|/, $r;
}

# Waits until pg_poolgov's count equals pg_stat_activity's, the views agree
# pid for pid, and the number is stable; returns it. Exiting backends take a
# moment to leave pg_stat_activity, so "at rest" means stable here.
sub wait_counts_agree
{
	my ($node, $test) = @_;
	my $ok = $node->poll_query_until('postgres', q{
		SELECT (SELECT connections FROM poolgov.stats)
		         = (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
		   AND NOT EXISTS (
		         SELECT pid FROM poolgov.connections
		         EXCEPT SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend')
		   AND NOT EXISTS (
		         SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
		         EXCEPT SELECT pid FROM poolgov.connections)});
	ok($ok, $test);
	my ($ours, $theirs, $rows) = client_counts($node);
	is($ours, $theirs, "$test: poolgov.stats.connections = pg_stat_activity client backends");
	is($rows, $theirs, "$test: one poolgov.connections row per client backend");
	return $ours;
}

# Waits until a background session's stdout matches $re, it printed an
# error, or $secs (default 30) passed; returns whether stdout matched. The
# caller asserts on $s->{stdout} and $s->{stderr}: a statement sent without
# waiting (send it with ->{stdin} and ->{run}->pump_nb) then says what
# happened to it, instead of the test hanging or trusting that it ran.
sub session_output
{
	my ($s, $re, $secs) = @_;
	my $t0 = time;
	while ($s->{stdout} !~ $re && $s->{stderr} !~ /ERROR|FATAL|connection/
		&& time - $t0 < ($secs // 30))
	{
		last unless eval { $s->{run}->pump_nb; 1 } && $s->{run}->pumpable;
		usleep(10_000);
	}
	return $s->{stdout} =~ $re ? 1 : 0;
}

# Starts psql in the background (not waiting); returns the IPC::Run harness.
sub start_psql
{
	my ($node, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('psql', '-X', '-q', '-d', $node->connstr($opts{db} // 'postgres'), '-c', $sql);
	push @cmd, '-U', $opts{user} if defined $opts{user};
	return IPC::Run::start(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
}

# Connects as $user and runs SELECT 1; returns (exit code, stdout, stderr).
# (psql -c: a refused login must not leave SQL waiting on a closed stdin.)
sub try_login
{
	my ($node, $user, $db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db // 'postgres'),
			'-U', $user, '-c', 'SELECT 1' ],
		'<', \undef, '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out, $err);
}

1;
