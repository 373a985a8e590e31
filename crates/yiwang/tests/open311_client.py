#!/usr/bin/env python3
"""An Open311 GeoReport v2 client, as a FixMyStreet-style front end would use yiwang.

Signs in as the demo admin only to issue itself an API key; everything after that is plain
GeoReport v2 over `requests`: list services, read a service definition, post a request with an
attribute, read it back with its status, find it by id and by token, and get GeoReport's error
shape for a request without a location and for an unknown service.

Usage:  open311_client.py BASE_URL      (e.g. http://127.0.0.1:8080)
"""
import sys

import requests


def main(base):
    admin = requests.Session()
    login = admin.post(f"{base}/api/auth/login", json={"login": "admin", "password": "Yiwang@2026"})
    login.raise_for_status()
    token = admin.post(f"{base}/api/tokens", json={"name": "open311-client"},
                       headers={"x-csrf-token": login.json()["csrf_token"]})
    token.raise_for_status()
    api_key = token.json()["secret"]

    geo = f"{base}/open311/v2"
    services = requests.get(f"{geo}/services.json").json()
    assert len(services) > 100, "the category tree's leaves are services"
    service = next(s for s in services if s["metadata"] == "true")
    definition = requests.get(f"{geo}/services/{service['service_code']}.json").json()
    attribute = definition["attributes"][0]
    value = attribute["values"][0]["key"]

    bad = requests.post(f"{geo}/requests.json", data={"api_key": api_key, "service_code": service["service_code"],
                                                      f"attribute[{attribute['code']}]": value})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400, bad.text
    unknown = requests.post(f"{geo}/requests.json", data={"api_key": api_key, "service_code": "nope",
                                                          "lat": "22.218", "long": "113.547"})
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404, unknown.text

    posted = requests.post(f"{geo}/requests.json", data={
        "api_key": api_key, "service_code": service["service_code"], "lat": "22.218", "long": "113.547",
        f"attribute[{attribute['code']}]": value, "description": "路灯不亮，晚上很黑", "first_name": "小明",
        "phone": "13800138009"})
    assert posted.status_code == 201, posted.text
    request_id, token = posted.json()[0]["service_request_id"], posted.json()[0]["token"]

    read = requests.get(f"{geo}/requests/{request_id}.json").json()[0]
    assert read["status"] == "open" and read["service_code"] == service["service_code"], read
    assert "13800138009" not in str(read), "no contact details in public data"
    listed = requests.get(f"{geo}/requests.json", params={"service_request_id": request_id}).json()
    assert [r["service_request_id"] for r in listed] == [request_id], listed
    by_token = requests.get(f"{geo}/tokens/{token}.json").json()[0]
    assert by_token["service_request_id"] == request_id, by_token
    xml = requests.get(f"{geo}/requests/{request_id}.xml").text
    assert f"<service_request_id>{request_id}</service_request_id>" in xml, xml
    print(f"open311 client: {len(services)} services; posted {request_id} to "
          f"{read['agency_responsible']} ({read['status']}); errors 400/404 in GeoReport shape")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
