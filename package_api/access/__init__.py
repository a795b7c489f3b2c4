"""Who may do what: users, projects and their features, members and roles, tokens, sign-in,
CI jobs, and the policy that decides every request."""
