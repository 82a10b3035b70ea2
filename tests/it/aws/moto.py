"""Fixtures for the AWS tests, run with the Python of moto's virtualenv.

`moto.py setup URL`     creates, in the moto server at URL, what the test
                         playbooks change and prints their ids as JSON.
`moto.py snapshot URL IDS_JSON` prints the full descriptions of those
                         resources (DescribeX / GetX / ListX answers) as
                         canonical JSON, for exact before/after comparisons.
`moto.py set-alarm URL NAME STATE` sets an alarm's state.

Only boto3 (a dependency of moto) is used. Credentials and region are fixed
fakes: moto accepts anything.
"""

import datetime
import json
import sys

import boto3

REGION = "us-east-1"


def client(url, service):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def setup(url):
    ids = {}
    r53 = client(url, "route53")
    hc = r53.create_health_check(
        CallerReference="gameday-test-hc",
        HealthCheckConfig={
            "IPAddress": "192.0.2.10",
            "Port": 443,
            "Type": "HTTPS",
            "ResourcePath": "/health",
            "RequestInterval": 10,
            "FailureThreshold": 3,
        },
    )
    ids["health_check_id"] = hc["HealthCheck"]["Id"]
    zone = r53.create_hosted_zone(Name="example.test.", CallerReference="gameday-test-zone")
    zone_id = zone["HostedZone"]["Id"].split("/")[-1]
    ids["zone_id"] = zone_id
    changes = []
    for region, ip, weight in [("us-east-1", "192.0.2.1", 100), ("eu-west-1", "192.0.2.2", 50)]:
        changes.append(
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": "api.example.test.",
                    "Type": "A",
                    "SetIdentifier": region,
                    "Weight": weight,
                    "TTL": 60,
                    "ResourceRecords": [{"Value": ip}],
                    "HealthCheckId": ids["health_check_id"],
                },
            }
        )
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})

    ec2 = client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")]
    ]
    elb = client(url, "elbv2")
    lb = elb.create_load_balancer(Name="gameday-test", Subnets=subnets, Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = []
    for az in ["a", "b"]:
        tg = elb.create_target_group(
            Name=f"zone-{az}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        tgs.append(tg)
    ids["tg_a"], ids["tg_b"] = tgs
    elb.register_targets(
        TargetGroupArn=tgs[0],
        Targets=[
            {"Id": "10.0.1.10", "Port": 80},
            {"Id": "10.0.1.11", "Port": 80},
        ],
    )
    elb.register_targets(TargetGroupArn=tgs[1], Targets=[{"Id": "10.0.2.10", "Port": 80}])
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": tgs[0], "Weight": 50},
                        {"TargetGroupArn": tgs[1], "Weight": 50},
                    ]
                },
            }
        ],
    )
    ids["listener_arn"] = listener["Listeners"][0]["ListenerArn"]

    fis = client(url, "fis")
    tpl = fis.create_experiment_template(
        clientToken="gameday-test-tpl",
        description="cross-region connectivity",
        roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "none"}],
        actions={"disrupt": {"actionId": "aws:network:route-table-disrupt-cross-region-connectivity", "parameters": {"duration": "PT5M", "region": "eu-west-1"}}},
        targets={},
    )
    ids["fis_template_id"] = tpl["experimentTemplate"]["id"]

    rds = client(url, "rds")
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
    )
    for name in ["orders-1", "orders-2"]:
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier="orders",
        )
    ids["db_cluster"] = "orders"

    cw = client(url, "cloudwatch")
    now = datetime.datetime.now(datetime.timezone.utc)
    cw.put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {
                "MetricName": "ReplicationLatency",
                # moto matches dimensions in order; gameday sends them sorted by name.
                "Dimensions": [
                    {"Name": "ReceivingRegion", "Value": "eu-west-1"},
                    {"Name": "TableName", "Value": "orders"},
                ],
                "Timestamp": now - datetime.timedelta(seconds=s),
                "Value": v,
                "Unit": "Milliseconds",
            }
            for s, v in [(240, 900.0), (180, 120.0), (120, 80.0), (60, 60.0)]
        ],
    )
    cw.put_metric_alarm(
        AlarmName="eu-west-1-errors",
        MetricName="5XXError",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    ids["alarm_name"] = "eu-west-1-errors"
    return ids


def strip_volatile(x):
    """Drop response metadata; keep everything else."""
    if isinstance(x, dict):
        return {k: strip_volatile(v) for k, v in x.items() if k != "ResponseMetadata"}
    if isinstance(x, list):
        return [strip_volatile(v) for v in x]
    return x


def snapshot(url, ids):
    r53 = client(url, "route53")
    elb = client(url, "elbv2")
    fis = client(url, "fis")
    rds = client(url, "rds")
    hc = r53.get_health_check(HealthCheckId=ids["health_check_id"])["HealthCheck"]
    # Route 53 counts every update; the version is not state a drill restores.
    hc.pop("HealthCheckVersion", None)
    out = {
        "health_check": hc,
        "records": r53.list_resource_record_sets(HostedZoneId=ids["zone_id"])["ResourceRecordSets"],
        "listener": elb.describe_listeners(ListenerArns=[ids["listener_arn"]])["Listeners"],
        "targets_a": sorted(
            elb.describe_target_health(TargetGroupArn=ids["tg_a"])["TargetHealthDescriptions"],
            key=lambda d: d["Target"]["Id"],
        ),
        "targets_b": elb.describe_target_health(TargetGroupArn=ids["tg_b"])["TargetHealthDescriptions"],
        "experiments_running": sorted(
            e["id"]
            for e in fis.list_experiments(experimentTemplateId=ids["fis_template_id"])["experiments"]
            if e["state"]["status"] in ("pending", "initiating", "running")
        ),
        "db_cluster_members": rds.describe_db_clusters(DBClusterIdentifier=ids["db_cluster"])["DBClusters"][0]["DBClusterMembers"],
    }
    return strip_volatile(out)


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "setup":
        print(json.dumps(setup(url)))
    elif cmd == "snapshot":
        print(json.dumps(snapshot(url, json.loads(sys.argv[3])), sort_keys=True, default=str, indent=1))
    elif cmd == "set-alarm":
        client(url, "cloudwatch").set_alarm_state(AlarmName=sys.argv[3], StateValue=sys.argv[4], StateReason="set by the test")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
