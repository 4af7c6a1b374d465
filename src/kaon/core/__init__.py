"""Values shared by every world kaon decides in: jobs, clusters, throughputs, placements."""
