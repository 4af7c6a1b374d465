"""Fair-share quotas (Kueue's ClusterQueue model) around any scheduling policy."""
