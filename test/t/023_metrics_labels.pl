# One series per label set in the Prometheus exposition: two entries of one
# role name (the role dropped and created again) become one series, and
# names whose bytes the encoding cannot show (logins to a SQL_ASCII
# database) keep distinct labels (\xNN), not one '?' label.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('labels');
$node->safe_psql('postgres', q{
	CREATE DATABASE ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
	CREATE ROLE dup LOGIN;
});

# Role names with a Latin-1 byte, created from the SQL_ASCII database (the
# bytes pass through as they are).
$node->safe_psql('ascii', qq{CREATE ROLE "caf\xe9" LOGIN; CREATE ROLE "caf\xe8" LOGIN;});
for my $role ("caf\xe9", "caf\xe8")
{
	my ($rc) = $node->psql('ascii', 'SELECT 1', extra_params => [ '-U', $role ]);
	is($rc, 0, 'a role with a Latin-1 byte in its name logs in');
}

# dup logs in, is dropped and created again (a new OID, the same name) and
# logs in again.
$node->safe_psql('postgres', 'SELECT 1', extra_params => [ '-U', 'dup' ]);
$node->safe_psql('postgres', 'DROP ROLE dup; CREATE ROLE dup LOGIN;');
$node->safe_psql('postgres', 'SELECT 1', extra_params => [ '-U', 'dup' ]);
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.roles WHERE role = 'dup'}), '2',
	'poolgov.roles keeps both entries (two OIDs)');

my $metrics = $node->safe_psql('postgres', 'SELECT poolgov.metrics()');
my @dup = grep { /^pg_poolgov_role_statements_total\{role="dup"\}/ } split /\n/, $metrics;
is(scalar @dup, 1, 'one series for role "dup"');
my %series;
my $duplicates = 0;
for my $line (split /\n/, $metrics)
{
	next if $line =~ /^#/;
	my ($key) = $line =~ /^(\S+\})/ or next;
	$duplicates++ if $series{$key}++;
}
is($duplicates, 0, 'no label set appears twice in any family');
like($metrics, qr/pg_poolgov_role_statements_total\{role="caf\\\\xe9"\}/, 'caf\xe9 keeps its own label');
like($metrics, qr/pg_poolgov_role_statements_total\{role="caf\\\\xe8"\}/, 'caf\xe8 keeps its own label');
unlike($metrics, qr/role="caf\?"/, 'no collapsed "caf?" label');

$node->stop;
done_testing();
