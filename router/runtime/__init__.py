"""What runs per connection and per message: the dispatcher that runs compiled steps, admission
(rate limits, payload limits, schemas), the rooms guard, timers and the metrics they count."""
