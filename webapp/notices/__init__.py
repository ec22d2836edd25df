"""Check-up-day notices: the delivery channels (printed slips, SMS, e-mail).

The channels are plain adapters with no database access: the scheduler and the views
decide who gets what and record each delivery; these modules only render and send.
"""
