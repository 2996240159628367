-- wrk script: POST a report to /v1/guidance (JSON, no model).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Host"] = "127.0.0.1"
wrk.body = '{"report": "River rising in Riverside, 3,000 residents, levee may fail within 2 hours, nursing home on Elm St"}'
