"""Deploying spokes: `sam deploy` in every region of one account, or a CloudFormation
StackSet across many accounts (an organisation's OUs, or accounts in separate organisations).

The logic here talks to the outside through small interfaces: a `CommandRunner` for the
`sam` command line and boto3 clients for AWS, so it can be checked without deploying.
"""
