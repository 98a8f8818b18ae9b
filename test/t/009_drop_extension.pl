# DROP EXTENSION pg_poolgov in the governed database: once it commits no
# budget applies (at once, and after the governor has read again); a
# rolled-back DROP (also to a savepoint) keeps the budgets; CREATE EXTENSION
# again starts from its table (empty, or the rows a restore inserts, with or
# without triggers); a DROP in another database changes nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('drop_extension');
$node->safe_psql('postgres', q{
	CREATE ROLE capped LOGIN;
	CREATE DATABASE other;
	SELECT poolgov.set_budget('capped', 0);
});
$node->safe_psql('other', 'CREATE EXTENSION pg_poolgov');

sub login
{
	my ($rc, $out, $err) = try_login($node, 'capped');
	return 'ok' if $rc == 0 && $out eq '1';
	return 'refused' if $err =~ /too many connections for role "capped"/;
	return "error: $err";
}

# Bounded wait for the governor to sample (and so re-read the table, every
# 10 samples) at least $n more times. After a DROP the history view is gone,
# so count samples through a fresh extension in database "other".
sub governor_samples
{
	my ($n) = @_;
	my $start = $node->safe_psql('other', 'SELECT count(*) FROM poolgov.history');
	ok($node->poll_query_until('other', "SELECT count(*) >= $start + $n FROM poolgov.history"),
		"the governor sampled $n more times");
}

is(login(), 'refused', 'budget 0: refused');

# A DROP that rolls back keeps the budget, now and after the governor reads.
$node->safe_psql('postgres', 'BEGIN; DROP EXTENSION pg_poolgov; ROLLBACK;');
is(login(), 'refused', 'rolled-back DROP EXTENSION: still refused');
$node->safe_psql('postgres',
	'BEGIN; SAVEPOINT s; DROP EXTENSION pg_poolgov; ROLLBACK TO s; COMMIT;');
is(login(), 'refused', 'DROP EXTENSION rolled back to a savepoint: still refused');
governor_samples(20);
is(login(), 'refused', 'still refused after the governor re-read the table');

# A DROP in a database the governor does not read changes nothing.
$node->safe_psql('other', 'DROP EXTENSION pg_poolgov');
$node->safe_psql('other', 'CREATE EXTENSION pg_poolgov');
is(login(), 'refused', 'DROP EXTENSION in another database: still refused');

# The committed DROP: no budget applies, at once and later.
$node->safe_psql('postgres', 'DROP EXTENSION pg_poolgov');
is(login(), 'ok', 'right after DROP EXTENSION: the role logs in');
governor_samples(20);
is(login(), 'ok', 'and still after the governor has read again');

# CREATE EXTENSION again: the (empty) table is the truth.
$node->safe_psql('postgres', 'CREATE EXTENSION pg_poolgov');
is(login(), 'ok', 'after CREATE EXTENSION: no budget');
governor_samples(20);
is(login(), 'ok', 'and none after the governor read the new table');
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('capped', 0)});
is(login(), 'refused', 'set_budget works again');

# DROP SCHEMA ... CASCADE drops the extension too.
$node->safe_psql('postgres', 'DROP SCHEMA poolgov CASCADE');
is(login(), 'ok', 'DROP SCHEMA poolgov CASCADE: no budget');

# A restore: CREATE EXTENSION, then the dumped rows, in one transaction.
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE EXTENSION pg_poolgov;
	INSERT INTO poolgov.budgets (role_name, max_connections) VALUES ('capped', 0);
	COMMIT;
});
is(login(), 'refused', 'restored rows apply at commit');

# pg_restore --disable-triggers: the rows arrive without the trigger; the
# governor picks them up when it next reads the table.
$node->safe_psql('postgres', 'DROP EXTENSION pg_poolgov');
is(login(), 'ok', 'dropped again: no budget');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_poolgov;
	ALTER TABLE poolgov.budgets DISABLE TRIGGER ALL;
	INSERT INTO poolgov.budgets (role_name, max_connections) VALUES ('capped', 0);
	ALTER TABLE poolgov.budgets ENABLE TRIGGER ALL;
});
my $ok = 0;
for my $i (1 .. 100)    # at most about 20 s
{
	if (login() eq 'refused') { $ok = 1; last; }
	select(undef, undef, undef, 0.2);
}
ok($ok, 'rows restored without triggers apply once the governor reads them');

done_testing();
