"""Model zoo (attention shapes of published models) and sweep specs; depends only on einsum_cascade."""
