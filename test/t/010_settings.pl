# Settings that would break pg_poolgov are lowered at start, visibly: a
# slow-query ring larger than one allocation can copy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

# 100000 entries of 64 kB would be 6 GB: the ring is capped at 256 MB.
my $node = poolgov_node('settings', conf => q{
poolgov.slow_query_log_size = 100000
poolgov.max_query_text = 65536
poolgov.slow_query_threshold = 0
});
my $size = $node->safe_psql('postgres', 'SHOW poolgov.slow_query_log_size');
cmp_ok($size, '<', 100000, "slow_query_log_size lowered ($size)");
cmp_ok($size * 65536, '<=', 256 * 1024 * 1024, 'ring fits in 256 MB');
like(slurp_file($node->logfile), qr/poolgov\.slow_query_log_size lowered from 100000 to $size/,
	'the server log says so');

# The view copies the ring: it works, full of long statements.
my $long = "SELECT length('" . ('x' x 10000) . "')";
$node->safe_psql('postgres', "$long;\n" x 20);
is($node->safe_psql('postgres', q{
	SELECT count(*) >= 20, max(length(query)) > 9000 FROM poolgov.slow_queries}),
	't|t', 'poolgov.slow_queries reads the large ring');

$node->stop;
done_testing();
