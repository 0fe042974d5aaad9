"""fairroll's AWS infrastructure as code: one CDK definition, one stack per environment."""
