"""HTTP plumbing shared by all routes: error mapping, body limits, JSON responses."""
