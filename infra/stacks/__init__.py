"""The CDK stack of one fairroll environment and the constructs it is made of."""
