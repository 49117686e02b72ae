from common.runtime import main
from services.venue.service import VenueService

main(VenueService)
