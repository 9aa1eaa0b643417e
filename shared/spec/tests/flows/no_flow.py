from metaflow import FlowSpec  # imported, but no flow is defined here

VALUE = 1
